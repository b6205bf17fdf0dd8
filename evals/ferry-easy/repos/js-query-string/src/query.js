function parseQuery(qs) {
  const out = {};
  for (const pair of qs.replace(/^\?/, '').split('&')) {
    if (!pair) continue;
    const [k, v = ''] = pair.split('=');
    out[k] = v;
  }
  return out;
}

module.exports = { parseQuery };
