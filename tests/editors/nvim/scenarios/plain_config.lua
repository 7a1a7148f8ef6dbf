-- Without setup(): vim.lsp.config + vim.lsp.enable alone (with or without the
-- plugin's lsp/qwen_ls.lua on the runtimepath) attach, run qwen.chat through
-- client:exec_cmd, list code actions, and show work-done progress.
return function(T)
  local plugin = T.params.plugin_dir ~= vim.NIL
  if plugin then
    vim.lsp.config('qwen_ls', { cmd = T.params.server_cmd })
  else
    vim.lsp.config('qwen_ls', { cmd = T.params.server_cmd, root_markers = { '.qwen', '.git' } })
  end
  vim.lsp.enable('qwen_ls')

  local progress = {}
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      local value = ev.data.params.value
      table.insert(progress, { kind = value.kind, title = value.title, message = value.message })
    end,
  })

  vim.cmd.edit(T.params.file)
  local client = T.client()
  T.result.root = client.root_dir
  T.result.commands = client.server_capabilities.executeCommandProvider.commands

  local answer
  client:exec_cmd(
    { title = 'Ask Qwen', command = 'qwen.chat', arguments = { { prompt = 'Hello' } } },
    { bufnr = 0 },
    function(err, result)
      answer = { err = err, result = result }
    end
  )
  T.wait(10000, function()
    return answer ~= nil
  end, 'the qwen.chat answer')
  T.result.answer = answer
  T.result.progress = progress
  T.result.lsp_status = vim.lsp.status()

  local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
  params.context = { diagnostics = {} }
  local actions = client:request_sync('textDocument/codeAction', params, 5000, 0)
  T.result.actions = {}
  for _, action in ipairs(actions and actions.result or {}) do
    local command = action.command and action.command.command
    table.insert(T.result.actions, { title = action.title, command = command })
  end
  if plugin then
    T.result.statusline = require('qwen_ls').statusline()
  end
end
