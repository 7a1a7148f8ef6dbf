--- The `qwen/status` notifications (one per workspace folder), the statusline
--- text made from them, and the `qwen.status` report for people.

local rpc = require('qwen_ls.rpc')

local M = {}

local USER_LEVEL = '' -- key of the status with no workspace folder

--- client id -> folder URI (or USER_LEVEL) -> last `qwen/status` params
---@type table<integer, table<string, table>>
M.by_client = {}

local function str(value)
  return type(value) == 'string' and value or nil
end

--- Handler of the `qwen/status` notification.
function M.handler(_, params, ctx)
  if type(params) ~= 'table' or type(params.signedIn) ~= 'boolean' then
    return
  end
  local status = {
    workspaceFolder = str(params.workspaceFolder),
    authType = str(params.authType),
    model = str(params.model),
    signedIn = params.signedIn,
    problems = vim.tbl_filter(function(p)
      return type(p) == 'string' and vim.trim(p) ~= ''
    end, type(params.problems) == 'table' and params.problems or {}),
  }
  M.by_client[ctx.client_id] = M.by_client[ctx.client_id] or {}
  M.by_client[ctx.client_id][status.workspaceFolder or USER_LEVEL] = status
  vim.schedule(function()
    vim.api.nvim_exec_autocmds('User', {
      pattern = 'QwenStatus',
      modeline = false,
      data = { client_id = ctx.client_id, status = status },
    })
    vim.cmd('redrawstatus!')
  end)
end

--- The last `qwen/status` that applies to `bufnr`: its workspace folder's, else
--- the client's first folder's, else the user-level one.
function M.get(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local client = rpc.get_client(bufnr)
  local statuses = client and M.by_client[client.id]
  if not statuses then
    return nil
  end
  local folder = rpc.folder_uri(client, bufnr)
  if folder and statuses[folder] then
    return statuses[folder]
  end
  local first = client.workspace_folders and client.workspace_folders[1]
  return (first and statuses[first.uri]) or statuses[USER_LEVEL] or select(2, next(statuses))
end

local function shorten(text, max)
  text = vim.trim((text:gsub('%s+', ' ')))
  if vim.fn.strchars(text) <= max then
    return text
  end
  return vim.fn.strcharpart(text, 0, max - 1) .. '…'
end

--- The statusline text: "Qwen: qwen3-coder-plus", "Qwen: not signed in", with the
--- live progress of a running request; empty while no qwen-ls runs.
function M.statusline(bufnr)
  local status = M.get(bufnr)
  if not status then
    return ''
  end
  local text
  if not status.signedIn then
    text = 'Qwen: not signed in'
  elseif #status.problems > 0 then
    text = ('Qwen: %s (!)'):format(status.model or 'no model')
  else
    text = 'Qwen: ' .. (status.model or 'no model')
  end
  local running = rpc.running[#rpc.running]
  if running then
    text = text .. ' … ' .. shorten(running.message or 'working', 30)
  end
  return text
end

--- Lines describing a `qwen.status` result.
function M.report(result)
  local sources = type(result.sources) == 'table' and result.sources or {}
  local function value(key, empty)
    local v = str(result[key]) or empty
    local source = str(sources[key])
    return source and ('%s  (%s)'):format(v, source) or v
  end
  local lines = {
    result.signedIn and ('Qwen: ready, model %s'):format(str(result.model) or '(none)')
      or 'Qwen: not signed in',
    'Workspace folder: ' .. (str(result.workspaceFolder) or '(none: user level)'),
    'Auth type: ' .. value('authType', '(none)'),
    'Model: ' .. value('model', '(none)'),
    'Base URL: ' .. value('baseUrl', '(none)'),
    'API key: ' .. value('apiKey', '(not set)'),
    '.env file: ' .. (str(result.envFile) or '(none)'),
  }
  local problems = type(result.problems) == 'table' and result.problems or {}
  if #problems > 0 then
    table.insert(lines, 'Problems:')
    for _, problem in ipairs(problems) do
      table.insert(lines, '  - ' .. tostring(problem))
    end
  end
  return lines
end

return M
