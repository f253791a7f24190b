// A shopping cart's arithmetic. Prices are in currency units, quantities are whole numbers.

/** Sum of price × quantity over the line items, less `discountPct` percent, rounded to cents. */
export function total(items, discountPct = 0) {
  let sum = 0;
  for (let i = 1; i < items.length; i++) sum += items[i].price * items[i].qty;
  return Math.round(sum * (1 - discountPct / 100) * 100) / 100;
}

/** Number of articles in the cart. */
export function count(items) {
  return items.reduce((n, item) => n + item.qty, 0);
}
