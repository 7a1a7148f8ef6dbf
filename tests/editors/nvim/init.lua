-- The init file of every headless Neovim the tests start. It reads the test's
-- parameters (a JSON file named by $QWEN_NVIM_PARAMS), puts the plugin on the
-- runtimepath when the test wants it, and runs the scenario once Neovim is up.
local params_path = assert(os.getenv('QWEN_NVIM_PARAMS'), 'QWEN_NVIM_PARAMS is not set')
local params = vim.json.decode(table.concat(vim.fn.readfile(params_path), '\n'))

package.path = params.lua_dir .. '/?.lua;' .. package.path
if params.plugin_dir ~= vim.NIL and params.plugin_dir then
  vim.opt.runtimepath:prepend(params.plugin_dir)
end

local T = require('qwen_test')
T.params = params

vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  callback = function()
    vim.schedule(function()
      T.run(dofile(params.scenario))
    end)
  end,
})
