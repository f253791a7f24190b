export async function benchFanout(_s: number, _r: number[], _d: number): Promise<object[]> {
  return [];
}
