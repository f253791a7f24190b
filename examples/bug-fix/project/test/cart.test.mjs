import assert from 'node:assert/strict';
import { test } from 'node:test';
import { count, total } from '../src/cart.mjs';

const cart = [
  { name: 'beans', price: 10, qty: 1 },
  { name: 'mug', price: 7.5, qty: 2 },
  { name: 'filter', price: 4, qty: 5 },
];

test('sums every line item', () => assert.equal(total(cart), 45));
test('applies a percentage discount', () => assert.equal(total(cart, 10), 40.5));
test('an empty cart costs nothing', () => assert.equal(total([]), 0));
test('counts articles', () => assert.equal(count(cart), 8));
