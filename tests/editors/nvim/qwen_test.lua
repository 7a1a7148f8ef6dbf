-- Helpers for the scenarios: waiting, recording notifications, finding the
-- client, and writing the result file the Python test reads.
local T = { result = {}, notes = {} }

--- Waits until `cond()` is true, or fails the scenario naming `what`.
function T.wait(ms, cond, what)
  if not vim.wait(ms, cond, 10) then
    error(('timed out after %d ms waiting for %s'):format(ms, what), 2)
  end
end

--- Records vim.notify calls (LSP window/showMessage goes there too).
function T.capture_notify()
  vim.notify = function(message, level)
    table.insert(T.notes, { message = tostring(message), level = level or vim.log.levels.INFO })
  end
end

--- The first recorded notification that contains `text`.
function T.note(text)
  for _, note in ipairs(T.notes) do
    if note.message:find(text, 1, true) then
      return note
    end
  end
end

function T.wait_note(text, ms)
  T.wait(ms or 10000, function()
    return T.note(text) ~= nil
  end, ('a notification containing %q'):format(text))
  return T.note(text)
end

--- The plugin, set up with the server command the test chose.
function T.setup(opts)
  local qwen = require('qwen_ls')
  qwen.setup(vim.tbl_deep_extend('force', { cmd = T.params.server_cmd }, opts or {}))
  return qwen
end

--- The initialized qwen_ls client attached to `bufnr` (default: current).
function T.client(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local client
  T.wait(10000, function()
    client = vim.lsp.get_clients({ name = 'qwen_ls', bufnr = bufnr })[1]
    return client ~= nil and client.initialized == true
  end, 'qwen_ls to attach')
  return client
end

--- False (and the test skips) when the server does not advertise `commands`.
function T.require_commands(client, commands)
  local provider = client.server_capabilities.executeCommandProvider or {}
  for _, command in ipairs(commands) do
    if not vim.list_contains(provider.commands or {}, command) then
      T.result.skip = ('server does not advertise %s yet'):format(command)
      return false
    end
  end
  return true
end

function T.lines(buf)
  return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
end

function T.text(buf)
  return table.concat(T.lines(buf), '\n')
end

function T.finish()
  T.result.notes = T.notes
  vim.fn.writefile({ vim.json.encode(T.result) }, T.params.result)
  vim.cmd('qall!')
end

function T.run(scenario)
  local ok, err = xpcall(scenario, debug.traceback, T)
  if not ok then
    T.result.error = tostring(err)
  end
  T.finish()
end

return T
