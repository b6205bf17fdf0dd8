const test = require('node:test');
const assert = require('node:assert');
const { parseQuery } = require('../src/query');

test('simple', () => {
  assert.deepStrictEqual(parseQuery('a=1&b=2'), { a: '1', b: '2' });
});
