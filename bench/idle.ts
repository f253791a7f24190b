export async function benchIdle(_k: number): Promise<object[]> {
  return [];
}
