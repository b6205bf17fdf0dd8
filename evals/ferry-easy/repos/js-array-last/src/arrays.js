function last(arr, n) {
  return arr.slice(arr.length - n + 1);
}

module.exports = { last };
