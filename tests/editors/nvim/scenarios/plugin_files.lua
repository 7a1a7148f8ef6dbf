-- Every Lua file of the plugin loads, the help file has valid tags, and setup()
-- refuses a server command that is not a list. No server is started.
return function(T)
  T.result.broken = {}
  for _, path in ipairs(vim.fn.globpath(T.params.plugin_dir, '**/*.lua', false, true)) do
    local chunk, err = loadfile(path)
    if not chunk then
      table.insert(T.result.broken, err)
    end
  end

  vim.cmd('helptags ' .. vim.fn.fnameescape(T.params.doc_copy))
  vim.opt.runtimepath:append(vim.fs.dirname(T.params.doc_copy))
  vim.cmd('help :QwenChat')
  T.result.help_file = vim.fs.basename(vim.api.nvim_buf_get_name(0))
  T.result.help_line = vim.api.nvim_get_current_line()

  local ok, err = pcall(require('qwen_ls').setup, { cmd = 'qwen-ls', enable = false })
  T.result.bad_cmd = { ok = ok, err = tostring(err) }
  T.result.has_checkhealth = pcall(require, 'qwen_ls.health')
end
