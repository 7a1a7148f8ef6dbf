-- :'<,'>QwenEdit rewrites a linewise selection, then a charwise one after
-- non-ASCII text on the same line; the server applies both with workspace/applyEdit.
-- A third edit is not applied because the buffer changes while the model answers.
return function(T)
  T.capture_notify()
  T.setup()
  vim.cmd.edit(T.params.file)
  local buf = vim.api.nvim_get_current_buf()
  T.client()

  -- qwen-ls may mark its edits as needing confirmation; the user says Yes.
  vim.fn.confirm = function()
    return 1
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

  -- Typing while the model answers: the edit is not applied, the proposal opens.
  T.notes = {}
  vim.cmd('2QwenEdit make it worse')
  vim.api.nvim_buf_set_lines(buf, -1, -1, true, { '# typed meanwhile' })
  T.result.refused = T.wait_note('Qwen did not apply the edit').message
  T.result.after_refused = T.lines(buf)
  T.result.proposal = T.lines(0)
  T.result.windows = #vim.api.nvim_tabpage_list_wins(0)
end
