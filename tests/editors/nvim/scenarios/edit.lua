-- :'<,'>QwenEdit rewrites a linewise selection, then a charwise one after
-- non-ASCII text on the same line; the server applies both with workspace/applyEdit.
-- A third one is declined at Neovim's confirmation.
return function(T)
  T.capture_notify()
  T.setup()
  vim.cmd.edit(T.params.file)
  local buf = vim.api.nvim_get_current_buf()
  T.client()

  T.result.confirmations = {}
  local answer = 1 -- "Yes": apply
  vim.fn.confirm = function(message)
    table.insert(T.result.confirmations, message)
    return answer
  end

  vim.cmd('normal! ggVj\27')
  vim.cmd("'<,'>QwenEdit add type hints")
  T.wait_note('Qwen: edited')
  T.result.after_lines = T.lines(buf)

  -- Select foo(1) on the line that starts with a non-ASCII string.
  vim.fn.cursor(T.params.char_line, 1)
  vim.fn.search('foo(1)', 'c', T.params.char_line)
  vim.cmd('normal! v5l\27')
  T.notes = {}
  vim.cmd("'<,'>QwenEdit call bar instead")
  T.wait_note('Qwen: edited')
  T.result.after_chars = T.lines(buf)

  -- Answering No at the confirmation leaves the buffer alone, and says so.
  answer = 2
  T.notes = {}
  vim.cmd('2QwenEdit make it worse')
  T.result.declined = T.wait_note('Qwen did not apply the edit').message
  T.result.after_declined = T.lines(buf)
  T.result.windows = #vim.api.nvim_tabpage_list_wins(0)
end
