--- Talking to qwen-ls: finding (or starting) the client, running server commands,
--- and streaming `qwen.chat` / `qwen.edit` on tokens of our own.
---
--- Streamed answers arrive as `$/progress` on a partial-result token that this
--- module picks. `M.progress_handler` takes those (and watches our work-done
--- tokens), then hands every other `$/progress` to Neovim's own handler, so
--- work-done progress still reaches `vim.lsp.status()` and the LspProgress event.

local M = {}

M.NAME = 'qwen_ls'
M.REQUEST_CANCELLED = -32800
M.INVALID_PARAMS = -32602
M.REQUEST_FAILED = -32803

--- How long to wait, after a work-done cancel, for the server to answer with what
--- it has before the request itself is cancelled.
M.stop_grace_ms = 3000

local partials = {} ---@type table<string, fun(value: table)>
local watchers = {} ---@type table<string, fun(value: table)>
local counter = 0

--- Running streamed requests, newest last: { command, stop, client_id, message? }.
---@type table[]
M.running = {}

local function new_token(kind)
  counter = counter + 1
  return ('qwen_ls-%s-%d-%d'):format(kind, vim.uv.getpid(), counter)
end

--- The `$/progress` handler of qwen-ls clients (set in `lsp/qwen_ls.lua` and by
--- `setup()`): our partial results go to their stream and never to Neovim's
--- handler (they have no `kind`, which progress UIs would complain about).
function M.progress_handler(err, params, ctx, config)
  local token = type(params) == 'table' and params.token or nil
  local partial = token ~= nil and partials[token] or nil
  if partial then
    if type(params.value) == 'table' then
      partial(params.value)
    end
    return
  end
  local watcher = token ~= nil and watchers[token] or nil
  if watcher and type(params.value) == 'table' then
    watcher(params.value)
  end
  local default = vim.lsp.handlers['$/progress']
  if default and default ~= M.progress_handler then
    return default(err, params, ctx, config)
  end
end

--- The `window/showDocument` handler of qwen-ls clients: Neovim's own (which opens
--- external pages with `vim.ui.open`), and when no browser could be opened, the
--- address is shown so that a sign-in can go on (the server shows the code too).
function M.show_document_handler(err, params, ctx, config)
  local default = vim.lsp.handlers['window/showDocument']
  local result = default(err, params, ctx, config)
  local failed = type(result) == 'table' and not result.success
  if type(params) == 'table' and params.external and failed then
    vim.schedule(function()
      vim.notify(
        'Qwen: no browser could be opened. Open this address yourself: ' .. tostring(params.uri),
        vim.log.levels.WARN,
        { title = 'Qwen' }
      )
    end)
  end
  return result
end

local function path_of(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  return name ~= '' and vim.fs.normalize(name) or nil
end
M.path_of = path_of

--- The workspace folder URI of `client` that holds `path` (the deepest one), or nil.
function M.folder_containing(client, path)
  local best, best_len = nil, -1
  for _, folder in ipairs(client.workspace_folders or {}) do
    local dir = vim.fs.normalize(vim.uri_to_fname(folder.uri)):gsub('/$', '')
    if (path == dir or vim.startswith(path, dir .. '/')) and #dir > best_len then
      best, best_len = folder.uri, #dir
    end
  end
  return best
end

--- The workspace folder URI of `client` that holds `bufnr`'s file, or nil.
function M.folder_uri(client, bufnr)
  local path = path_of(bufnr)
  return path and M.folder_containing(client, path) or nil
end

local function usable(client)
  return client and client.initialized and not client:is_stopped()
end

--- A running qwen-ls client for `bufnr`: one attached to it, else one whose
--- workspace holds its file, else any.
function M.get_client(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME, bufnr = bufnr })) do
    if usable(client) then
      return client
    end
  end
  local any
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    if usable(client) then
      if M.folder_uri(client, bufnr) then
        return client
      end
      any = any or client
    end
  end
  return any
end

--- Calls `fn(client)` with a running client, starting one for the current
--- directory (or `bufnr`'s project) when none runs. `fn(nil, message)` on failure.
function M.with_client(bufnr, fn)
  local client = M.get_client(bufnr)
  if client then
    return fn(client)
  end
  local config = vim.lsp.config[M.NAME]
  if not config then
    return fn(nil, 'qwen-ls is not configured: call require("qwen_ls").setup()')
  end
  config = vim.deepcopy(config)
  if not config.root_dir then
    local start = path_of(bufnr) or vim.fn.getcwd()
    config.root_dir = config.root_markers and vim.fs.root(start, config.root_markers)
      or vim.fn.getcwd()
  end
  local ok, id = pcall(vim.lsp.start, config, { bufnr = bufnr, attach = false })
  if not ok or not id then
    return fn(nil, 'qwen-ls could not be started: ' .. tostring(ok and 'no client' or id))
  end
  local waited = 0
  local timer = assert(vim.uv.new_timer())
  timer:start(
    20,
    20,
    vim.schedule_wrap(function()
      local started = vim.lsp.get_client_by_id(id)
      waited = waited + 20
      if usable(started) or not started or waited > 15000 then
        timer:stop()
        timer:close()
        if usable(started) then
          fn(started)
        else
          fn(nil, 'qwen-ls did not start; see :checkhealth qwen_ls and :LspLog')
        end
      end
    end)
  )
end

--- The commands the server advertises.
function M.server_commands(client)
  local provider = client.server_capabilities and client.server_capabilities.executeCommandProvider
  return type(provider) == 'table' and provider.commands or {}
end

function M.supports(client, command)
  return vim.list_contains(M.server_commands(client), command)
end

local function unsupported(client, command)
  return {
    code = M.INVALID_PARAMS,
    message = ('this qwen-ls (%s) does not offer %s; update qwen-ls'):format(
      client.server_info and client.server_info.version or 'unknown version',
      command
    ),
  }
end

--- Runs a server command whose only argument is `argument`; `on_done(err, result)`.
--- Returns the request id, or nil when nothing was sent.
function M.execute(client, command, argument, bufnr, on_done, work_done_token)
  if not M.supports(client, command) then
    vim.schedule(function()
      on_done(unsupported(client, command), nil)
    end)
    return nil
  end
  local params = { command = command, arguments = { argument } }
  if work_done_token then
    params.workDoneToken = work_done_token
  end
  local ok, id = client:request('workspace/executeCommand', params, function(err, result)
    on_done(err, result)
  end, bufnr)
  if not ok then
    vim.schedule(function()
      on_done({ code = -32099, message = 'qwen-ls has stopped' }, nil)
    end)
    return nil
  end
  return id
end

--- Like `execute`, but waits (for at most `timeout_ms`); returns err, result.
function M.execute_sync(client, command, argument, bufnr, timeout_ms)
  local done, err, result = false, nil, nil
  M.execute(client, command, argument, bufnr, function(e, r)
    done, err, result = true, e, r
  end)
  if not vim.wait(timeout_ms or 2000, function()
    return done
  end, 10) then
    return { code = -1, message = command .. ' timed out' }, nil
  end
  return err, result
end

--- Runs a long command with a work-done token of ours (so it can be stopped) and,
--- when `handlers.on_partial` is given, a partial-result token.
---
--- handlers: on_partial(value), on_progress(message), on_done(err, result).
--- Returns a handle with `stop()`: a work-done cancel (the server returns what it
--- has), then after `stop_grace_ms` a `$/cancelRequest`.
function M.stream(client, command, argument, bufnr, handlers)
  local work_token = new_token('work')
  argument = vim.deepcopy(argument)
  local partial_token
  if handlers.on_partial then
    partial_token = new_token('partial')
    argument.partialResultToken = partial_token
    partials[partial_token] = handlers.on_partial
  end

  local handle = { command = command, client_id = client.id, done = false }
  watchers[work_token] = function(value)
    if value.kind ~= 'end' and value.message then
      handle.message = value.message
      if handlers.on_progress then
        handlers.on_progress(value.message)
      end
    end
  end

  local function finish(err, result)
    if handle.done then
      return
    end
    handle.done = true
    if partial_token then
      partials[partial_token] = nil
    end
    watchers[work_token] = nil
    for i, running in ipairs(M.running) do
      if running == handle then
        table.remove(M.running, i)
        break
      end
    end
    handlers.on_done(err, result)
  end

  table.insert(M.running, handle)
  local id = M.execute(client, command, argument, bufnr, finish, work_token)
  handle.request_id = id

  function handle.stop()
    if handle.done or handle.stopping then
      return
    end
    handle.stopping = true
    client:notify('window/workDoneProgress/cancel', { token = work_token })
    vim.defer_fn(function()
      if not handle.done and id then
        client:cancel_request(id)
      end
    end, M.stop_grace_ms)
  end

  return handle
end

--- Stops every running streamed request; returns how many there were.
function M.stop_all()
  local count = #M.running
  for _, handle in ipairs(vim.list_slice(M.running)) do
    handle.stop()
  end
  return count
end

--- A message for an error answered by the server.
function M.describe_error(err)
  if type(err) ~= 'table' then
    return tostring(err)
  end
  local message = err.message or 'the request failed'
  local data = type(err.data) == 'table' and err.data or nil
  if data and data.kind == 'rateLimit' and type(data.retryAfter) == 'number' then
    message = ('%s Try again in %d s.'):format(message, math.ceil(data.retryAfter))
  end
  if data and data.kind == 'auth' then
    message = message .. ' (:QwenAuth signs in)'
  elseif data and data.kind == 'config' then
    message = message .. ' (:QwenStatus shows where each value comes from)'
  end
  return message
end

return M
