--- LSP ranges for a command's line range or the last visual selection, counted in
--- the client's position encoding (Neovim negotiates UTF-8 with qwen-ls).

local M = {}

local function line_at(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
end

local function position(bufnr, row, col, encoding)
  local line = line_at(bufnr, row)
  col = math.min(col, #line)
  return { line = row, character = vim.lsp.util.character_offset(bufnr, row, col, encoding) }
end

--- The range after the last character of 0-based `row`: the start of the next
--- line, or the end of the buffer's last line.
local function after_line(bufnr, row, encoding)
  if row + 1 < vim.api.nvim_buf_line_count(bufnr) then
    return { line = row + 1, character = 0 }
  end
  return position(bufnr, row, #line_at(bufnr, row), encoding)
end

--- Whole lines `line1`..`line2` (1-based, inclusive), their last line break included.
function M.lines(bufnr, line1, line2, encoding)
  return {
    start = { line = line1 - 1, character = 0 },
    ['end'] = after_line(bufnr, line2 - 1, encoding),
  }
end

--- The range a user command was given (`opts` as passed to the command callback):
--- the characters of a charwise visual selection when the command was run on it,
--- else whole lines. Nil when the command had no range.
function M.from_command(bufnr, opts, encoding)
  if opts.range == 0 then
    return nil
  end
  local s = vim.api.nvim_buf_get_mark(bufnr, '<')
  local e = vim.api.nvim_buf_get_mark(bufnr, '>')
  local charwise = vim.fn.visualmode() == 'v' and s[1] == opts.line1 and e[1] == opts.line2
  if not charwise then
    return M.lines(bufnr, opts.line1, opts.line2, encoding)
  end

  local start = position(bufnr, s[1] - 1, s[2], encoding)
  local row = e[1] - 1
  local line = line_at(bufnr, row)
  local stop
  if vim.o.selection == 'exclusive' then
    stop = position(bufnr, row, e[2], encoding)
  elseif e[2] >= #line then
    -- The selection took the line break too.
    stop = after_line(bufnr, row, encoding)
  else
    -- '> marks the first byte of the last selected character.
    local last = e[2] + 1 + vim.str_utf_end(line, e[2] + 1)
    stop = position(bufnr, row, last, encoding)
  end
  return { start = start, ['end'] = stop }
end

--- "app.py, lines 3-5" for a chat header.
function M.label(bufnr, range)
  local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':~:.')
  if not range then
    return name
  end
  local first = range.start.line + 1
  local last = range['end'].line + 1
  if range['end'].character == 0 and last > first then
    last = last - 1
  end
  return first == last and ('%s, line %d'):format(name, first)
    or ('%s, lines %d-%d'):format(name, first, last)
end

return M
