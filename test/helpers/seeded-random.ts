/** The seeded PRNG and the splitters live in the testing kit (src/testing/seeded-random.ts); the tests use that one copy. */
export { createSeededRandom, splitAt, splitRandomly, type SeededRandom } from '../../src/testing/seeded-random.ts';
