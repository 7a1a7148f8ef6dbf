--- The chat buffer: one conversation at a time, answers streamed into it as they
--- arrive, follow-up questions continuing the same server session.

local rpc = require('qwen_ls.rpc')

local M = {}

M.BUFFER_NAME = 'qwen://chat'

M.options = {
  open = 'botright vsplit', -- how a window for the chat is opened
  focus = false, -- move the cursor into the chat window when it opens
  keys = { stop = '<C-c>' }, -- buffer-local keys in the chat (false disables one)
}

---@class qwen_ls.ChatState
---@field buf integer?
---@field session {id: string, client_id: integer, folder: string?}?
---@field running table? the stream handle of the answer being written
---@field last table? the outcome of the last answer (text, finishReason, error)
M.state = {}

local function notify(message, level)
  vim.notify(message, level or vim.log.levels.INFO, { title = 'Qwen' })
end

local function is_empty(buf)
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  return #lines == 1 and lines[1] == ''
end

local function write(buf, fn)
  vim.bo[buf].modifiable = true
  local ok, err = pcall(fn)
  vim.bo[buf].modifiable = false
  if not ok then
    error(err, 0)
  end
end

--- Windows showing `buf` whose cursor is on its last line: they follow the answer.
local function followers(buf)
  local last = vim.api.nvim_buf_line_count(buf)
  local wins = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if vim.api.nvim_win_get_cursor(win)[1] >= last - 1 then
      table.insert(wins, win)
    end
  end
  return wins
end

local function follow(buf, wins)
  local last = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(wins) do
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_set_cursor(win, { last, 0 })
    end
  end
end

--- Appends `text` at the very end of `buf`; lines it starts get `prefix`.
local function append(buf, text, prefix)
  if text == '' then
    return
  end
  local wins = followers(buf)
  local parts = vim.split(text, '\n', { plain = true })
  if prefix then
    for i = 2, #parts do
      parts[i] = prefix .. parts[i]
    end
  end
  write(buf, function()
    local row = vim.api.nvim_buf_line_count(buf) - 1
    local col = #vim.api.nvim_buf_get_lines(buf, row, row + 1, true)[1]
    vim.api.nvim_buf_set_text(buf, row, col, row, col, parts)
  end)
  follow(buf, wins)
end

--- Adds whole lines after the last one (a blank line before them when needed).
local function add_lines(buf, lines)
  local wins = followers(buf)
  write(buf, function()
    if is_empty(buf) then
      vim.api.nvim_buf_set_lines(buf, 0, -1, true, lines)
      return
    end
    local count = vim.api.nvim_buf_line_count(buf)
    if vim.api.nvim_buf_get_lines(buf, count - 1, count, true)[1] ~= '' then
      table.insert(lines, 1, '')
    end
    vim.api.nvim_buf_set_lines(buf, count, count, true, lines)
  end)
  follow(buf, wins)
end

local function end_position(buf)
  local row = vim.api.nvim_buf_line_count(buf) - 1
  return row, #vim.api.nvim_buf_get_lines(buf, row, row + 1, true)[1]
end

--- Replaces everything from (row, col) to the end of `buf` with `text`.
local function replace_from(buf, row, col, text)
  write(buf, function()
    local last_row, last_col = end_position(buf)
    local lines = vim.split(text, '\n', { plain = true })
    vim.api.nvim_buf_set_text(buf, row, col, last_row, last_col, lines)
  end)
end

function M.buffer()
  local buf = M.state.buf
  if buf and vim.api.nvim_buf_is_valid(buf) then
    return buf
  end
  buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, M.BUFFER_NAME)
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].undolevels = -1
  vim.bo[buf].modifiable = false
  if M.options.keys.stop then
    vim.keymap.set('n', M.options.keys.stop, function()
      M.stop()
    end, { buffer = buf, desc = 'Qwen: stop the answer' })
  end
  M.state.buf = buf
  M.state.session = nil
  return buf
end

--- Shows the chat buffer in a window of the current tab page (opening one if
--- needed) and returns that window.
function M.show()
  local buf = M.buffer()
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if vim.api.nvim_win_get_buf(win) == buf then
      return win
    end
  end
  local previous = vim.api.nvim_get_current_win()
  vim.cmd(M.options.open)
  local win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(win, buf)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  if not M.options.focus and vim.api.nvim_win_is_valid(previous) then
    vim.api.nvim_set_current_win(previous)
  end
  return win
end

--- Forgets the conversation and empties the buffer.
function M.clear()
  local buf = M.buffer()
  write(buf, function()
    vim.api.nvim_buf_set_lines(buf, 0, -1, true, {})
  end)
  M.state.session = nil
end

--- The workspace folder a chat with `uri` goes to, as the server chooses it.
local function folder_of(client, uri)
  if uri then
    return rpc.folder_containing(client, vim.fs.normalize(vim.uri_to_fname(uri)))
  end
  local first = (client.workspace_folders or {})[1]
  return first and first.uri or nil
end

local function fire_done(outcome)
  M.state.last = outcome
  vim.api.nvim_exec_autocmds('User', { pattern = 'QwenChatDone', modeline = false, data = outcome })
end

---@class qwen_ls.Ask
---@field client vim.lsp.Client
---@field bufnr integer the buffer the question was asked from
---@field args table the `qwen.chat` argument (prompt, uri?, range?, model?)
---@field label string? what the context is, for the header
---@field new boolean? start a new conversation

--- Asks `ask.args.prompt` and streams the answer into the chat buffer.
---@param ask qwen_ls.Ask
function M.ask(ask)
  if M.state.running then
    local key = M.options.keys.stop
    notify(
      'Qwen is still answering; stop it first'
        .. (key and (' (' .. key .. ' in the chat, or :QwenCancel)') or ' (:QwenCancel)'),
      vim.log.levels.WARN
    )
    return
  end
  local buf = M.buffer()
  M.show()
  local args = vim.deepcopy(ask.args)
  local session = M.state.session
  if ask.new then
    M.clear()
    session = nil
  elseif session then
    if args.uri == nil and session.folder then
      args.uri = session.folder
    end
    if session.client_id ~= ask.client.id or session.folder ~= folder_of(ask.client, args.uri) then
      -- That conversation lives in another server or workspace folder.
      session = nil
      add_lines(buf, { '---' })
    end
  end
  M.state.session = session
  if session then
    args.sessionId = session.id
  end

  local header = '## You' .. (ask.label and (' (' .. ask.label .. ')') or '')
  local lines = { header }
  vim.list_extend(lines, vim.split(args.prompt, '\n', { plain = true }))
  vim.list_extend(lines, { '', '## Qwen', '' })
  add_lines(buf, lines)
  M._stream(ask.client, ask.bufnr, args, buf)
end

function M._stream(client, bufnr, args, buf)
  local answer_row, answer_col = end_position(buf)
  local mode -- nil, 'reasoning' or 'text'
  local text_start -- where the answer's text (after any reasoning) starts
  local streamed = {}

  local function on_partial(value)
    if not vim.api.nvim_buf_is_valid(buf) then
      return
    end
    if type(value.reasoning) == 'string' and value.reasoning ~= '' then
      if mode ~= 'reasoning' then
        append(buf, (mode == 'text' and '\n\n' or '') .. '> ', nil)
      end
      append(buf, value.reasoning, '> ')
      mode = 'reasoning'
    end
    if type(value.delta) == 'string' and value.delta ~= '' then
      if mode == 'reasoning' then
        append(buf, '\n\n')
      end
      if not text_start then
        text_start = { end_position(buf) }
      end
      append(buf, value.delta)
      table.insert(streamed, value.delta)
      mode = 'text'
    end
  end

  local function on_done(err, result)
    M.state.running = nil
    if not vim.api.nvim_buf_is_valid(buf) then
      return
    end
    if err then
      if
        err.code == rpc.INVALID_PARAMS
        and args.sessionId
        and type(err.message) == 'string'
        and vim.startswith(err.message, 'sessionId')
      then
        -- The server forgot the conversation (it restarted): ask again, anew.
        M.state.session = nil
        args.sessionId = nil
        append(buf, '_(the earlier conversation has expired; asking in a new one)_\n\n')
        return M._stream(client, bufnr, args, buf)
      end
      local stopped = err.code == rpc.REQUEST_CANCELLED
      local note = stopped and '_(stopped)_' or ('**Error:** ' .. rpc.describe_error(err))
      append(buf, '\n\n' .. note .. '\n')
      if not stopped then
        notify('Qwen: ' .. rpc.describe_error(err), vim.log.levels.ERROR)
      end
      fire_done({
        error = err,
        text = table.concat(streamed),
        finishReason = stopped and 'cancelled' or nil,
      })
      return
    end

    result = type(result) == 'table' and result or {}
    local text = type(result.text) == 'string' and result.text or table.concat(streamed)
    if text ~= table.concat(streamed) then
      -- Partial results were missed (or not sent): show the final text instead.
      local row, col = answer_row, answer_col
      if text_start then
        row, col = text_start[1], text_start[2]
      elseif mode == 'reasoning' then
        append(buf, '\n\n')
        row, col = end_position(buf)
      end
      replace_from(buf, row, col, text)
    end
    if type(result.sessionId) == 'string' then
      M.state.session = {
        id = result.sessionId,
        client_id = client.id,
        folder = folder_of(client, args.uri),
      }
    end
    if result.finishReason == 'cancelled' then
      append(buf, '\n\n_(stopped)_')
    elseif result.finishReason == 'length' then
      append(buf, '\n\n_(stopped: the answer reached the token limit)_')
    end
    append(buf, '\n')
    fire_done({
      text = text,
      finishReason = result.finishReason,
      sessionId = result.sessionId,
      model = result.model,
    })
  end

  M.state.running = rpc.stream(client, 'qwen.chat', args, bufnr, {
    on_partial = on_partial,
    on_done = on_done,
  })
end

--- Stops the answer being written (what arrived so far stays).
function M.stop()
  if M.state.running then
    M.state.running.stop()
    return true
  end
  return false
end

return M
