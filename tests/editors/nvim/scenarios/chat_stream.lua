-- :QwenChat streams into the chat buffer; a follow-up continues the session; the
-- statusline follows qwen/status; :QwenStatus reports; a code action streams too;
-- a line range goes along as context.
return function(T)
  T.capture_notify()
  local qwen = T.setup()
  local chat = require('qwen_ls.chat')
  vim.cmd.edit(T.params.file)
  local source = vim.api.nvim_get_current_buf()
  T.client()
  T.wait(5000, function()
    return qwen.statusline() ~= ''
  end, 'a qwen/status notification')
  T.result.statusline = qwen.statusline()

  -- Work-done progress still reaches Neovim (LspProgress); partial results do not.
  T.result.progress = {}
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      local value = ev.data.params.value
      table.insert(T.result.progress, { kind = value.kind or vim.NIL, title = value.title })
    end,
  })

  vim.cmd('QwenChat Say it')
  local buf = chat.state.buf
  T.result.chat_shown = #vim.fn.win_findbuf(buf) > 0
  T.result.stayed_in_source = vim.api.nvim_get_current_buf() == source

  -- Sample the buffer while the answer is still arriving.
  T.wait(5000, function()
    return chat.state.running ~= nil and select(2, T.text(buf):gsub('tok', '')) >= 2
  end, 'the first pieces of the answer')
  T.result.mid = {
    lines = T.lines(buf),
    running = chat.state.running ~= nil,
    statusline = qwen.statusline(),
  }
  T.wait(10000, function()
    return chat.state.running == nil
  end, 'the end of the answer')
  T.result.first = { lines = T.lines(buf), outcome = chat.state.last }

  vim.cmd('QwenChat And again?')
  T.wait(10000, function()
    return chat.state.running == nil
  end, 'the follow-up answer')
  T.result.second = { lines = T.lines(buf), outcome = chat.state.last }

  vim.cmd('QwenStatus')
  T.result.status = T.wait_note('Model: ').message

  -- The Explain code action runs through the plugin: a new conversation in the chat.
  chat.state.last = nil
  vim.lsp.buf.code_action({
    apply = true,
    range = { start = { 1, 0 }, ['end'] = { 2, 0 } },
    filter = function(action)
      return action.title == 'Qwen: Explain'
    end,
  })
  T.wait(10000, function()
    return chat.state.last ~= nil
  end, 'the explanation')
  T.result.explained = { lines = T.lines(buf), outcome = chat.state.last }

  -- A line range goes along as context, in a new conversation (!).
  chat.state.last = nil
  vim.cmd('2QwenChat! What does this line do?')
  T.wait(10000, function()
    return chat.state.last ~= nil
  end, 'the answer about line 2')
  T.result.ranged = { lines = T.lines(buf), outcome = chat.state.last }
end
