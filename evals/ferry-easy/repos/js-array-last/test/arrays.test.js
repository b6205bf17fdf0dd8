const test = require('node:test');
const assert = require('node:assert');
const { last } = require('../src/arrays');

test('returns an array', () => {
  assert.ok(Array.isArray(last([1, 2], 1)));
});
