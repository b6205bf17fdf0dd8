const test = require('node:test');
const assert = require('node:assert');
const { capitalize } = require('../src/strings');

test('capitalizes', () => {
  assert.strictEqual(capitalize('ferry'), 'Ferry');
});
