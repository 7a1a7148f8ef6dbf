-- The stop key in the chat buffer ends a streaming answer; what arrived stays.
-- No file is open: :QwenChat starts the server for the current directory.
return function(T)
  T.capture_notify()
  T.setup()
  local chat = require('qwen_ls.chat')

  vim.cmd('QwenChat Count slowly')
  T.wait(10000, function()
    return chat.state.running ~= nil
  end, 'the server to start and the chat to begin')
  local buf = chat.state.buf
  T.wait(5000, function()
    return select(2, T.text(buf):gsub('tok', '')) >= 3
  end, 'the answer to start')

  -- Press the key in the chat window, as a user would.
  vim.api.nvim_set_current_win(vim.fn.win_findbuf(buf)[1])
  local pressed = vim.uv.hrtime()
  vim.api.nvim_feedkeys(vim.keycode('<C-c>'), 'x', false)
  T.wait(5000, function()
    return chat.state.running == nil
  end, 'the answer to stop')
  T.result.stop_ms = (vim.uv.hrtime() - pressed) / 1e6
  T.result.lines = T.lines(buf)
  T.result.outcome = chat.state.last
end
