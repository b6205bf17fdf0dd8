const test = require('node:test');
const assert = require('node:assert');
const { formatBytes } = require('../src/format');

test('kb', () => {
  assert.strictEqual(formatBytes(2048), '2.0 KB');
});
