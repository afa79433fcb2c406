// Runs in Jest's parent process, where process.env writes reach the real
// environment that the native worker threads read.
module.exports = async () => {
  // Enables the worker's test-only request that panics on purpose.
  process.env.OPENCALL_TEST_HOOKS = '1';
};
