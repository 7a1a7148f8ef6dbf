--- qwen-ls for Neovim: configures the language server with `vim.lsp.config` and
--- `vim.lsp.enable`, and adds the :Qwen* commands and a statusline function.

local chat = require('qwen_ls.chat')
local range = require('qwen_ls.range')
local rpc = require('qwen_ls.rpc')
local status = require('qwen_ls.status')

local M = {}

local AUTH_METHODS = { 'qwen-oauth', 'openai', 'coding-plan' }
local AUTH_LABELS = {
  ['qwen-oauth'] = 'Qwen OAuth (sign in with qwen.ai in the browser)',
  ['openai'] = 'API key (OpenAI-compatible: Model Studio / DashScope or another provider)',
  ['coding-plan'] = 'Coding Plan API key (Alibaba Cloud)',
}
local SCOPES = { 'workspace', 'user' }

M.defaults = {
  cmd = nil, -- the server command, a list; default: { 'qwen-ls' } (lsp/qwen_ls.lua)
  root_markers = { '.qwen', '.git' },
  filetypes = nil, -- nil: every filetype
  settings = {}, -- the `qwen` section: authType, model, openaiBaseUrl, openaiApiKey
  enable = true, -- call vim.lsp.enable('qwen_ls')
  chat = {}, -- see require('qwen_ls.chat').options
}

M.options = vim.deepcopy(M.defaults)

local function notify(message, level)
  vim.notify(message, level or vim.log.levels.INFO, { title = 'Qwen' })
end

local function report_error(what, err)
  if err and err.code == rpc.REQUEST_CANCELLED then
    notify(what .. ': cancelled')
    return
  end
  notify(('%s: %s'):format(what, rpc.describe_error(err)), vim.log.levels.ERROR)
end

--- The handlers every qwen-ls client needs (also in lsp/qwen_ls.lua).
function M.handlers()
  return {
    ['$/progress'] = rpc.progress_handler,
    ['qwen/status'] = status.handler,
    ['window/showDocument'] = rpc.show_document_handler,
  }
end

-- Commands

--- Runs `fn(client)` with a running qwen-ls client, or says why there is none.
local function with_client(bufnr, fn)
  rpc.with_client(bufnr, function(client, problem)
    if not client then
      notify(problem, vim.log.levels.ERROR)
      return
    end
    fn(client)
  end)
end

--- Calls `fn` with the command's arguments, or with what the user types when
--- there are none.
local function text_or_input(cmd, prompt, fn)
  if cmd.args ~= '' then
    fn(cmd.args)
  else
    vim.ui.input({ prompt = prompt }, fn)
  end
end

local function compact(t)
  return vim.tbl_isempty(t) and vim.empty_dict() or t
end

--- :QwenChat[!] {prompt}; with a range, those lines (or the visual selection) go
--- along as context; with !, a new conversation starts.
function M.chat(cmd)
  local bufnr = vim.api.nvim_get_current_buf()
  local function ask(prompt)
    if not prompt or vim.trim(prompt) == '' then
      return
    end
    with_client(bufnr, function(client)
      local args = { prompt = vim.trim(prompt) }
      local context
      if rpc.path_of(bufnr) then
        context = range.from_command(bufnr, cmd, client.offset_encoding)
      end
      if context then
        args.uri = vim.uri_from_bufnr(bufnr)
        args.range = context
      elseif bufnr ~= chat.state.buf then
        args.uri = rpc.folder_uri(client, bufnr)
      end
      chat.ask({
        client = client,
        bufnr = bufnr,
        args = args,
        label = context and range.label(bufnr, context) or nil,
        new = cmd.bang,
      })
    end)
  end
  text_or_input(cmd, 'Ask Qwen: ', ask)
end

local function run_edit(client, bufnr, args)
  return rpc.stream(client, 'qwen.edit', args, bufnr, {
    on_done = function(err, result)
      if err then
        return report_error('Qwen edit', err)
      end
      result = type(result) == 'table' and result or {}
      if result.applied then
        notify('Qwen: edited ' .. range.label(bufnr, args.range))
        return
      end
      notify(
        'Qwen did not apply the edit: ' .. tostring(result.reason or 'the document changed'),
        vim.log.levels.WARN
      )
      if type(result.text) == 'string' and result.text ~= '' then
        M.show_text(result.text, vim.bo[bufnr].filetype)
      end
    end,
  })
end

--- Opens `text` in a scratch split (a proposed edit that was not applied).
function M.show_text(text, filetype)
  local buf = vim.api.nvim_create_buf(false, true)
  local lines = vim.split((text:gsub('\r?\n$', '')), '\r?\n')
  vim.api.nvim_buf_set_lines(buf, 0, -1, true, lines)
  vim.bo[buf].filetype = filetype or ''
  vim.cmd('belowright split')
  vim.api.nvim_win_set_buf(0, buf)
end

--- :[range]QwenEdit {instruction}: the model rewrites the selection (or the lines,
--- or the current line) and the server applies the edit.
function M.edit(cmd)
  local bufnr = vim.api.nvim_get_current_buf()
  if not rpc.path_of(bufnr) then
    notify('Qwen: :QwenEdit works on a file buffer', vim.log.levels.WARN)
    return
  end
  local function run(instruction)
    if not instruction or vim.trim(instruction) == '' then
      return
    end
    local client = vim.lsp.get_clients({ name = rpc.NAME, bufnr = bufnr })[1]
    if not client or not client.initialized then
      notify(
        'Qwen: qwen-ls is not attached to this buffer (see :checkhealth qwen_ls)',
        vim.log.levels.ERROR
      )
      return
    end
    local target = range.from_command(bufnr, cmd, client.offset_encoding)
      or range.lines(bufnr, cmd.line1, cmd.line2, client.offset_encoding)
    run_edit(client, bufnr, {
      uri = vim.uri_from_bufnr(bufnr),
      range = target,
      instruction = vim.trim(instruction),
    })
  end
  text_or_input(cmd, 'Edit with Qwen: ', run)
end

local function auth_done(err, result)
  if err then
    return report_error('Qwen sign-in', err)
  end
  result = type(result) == 'table' and result or {}
  if result.signedIn then
    local model = type(result.model) == 'string' and result.model or 'not set'
    local lines = { ('Qwen: signed in (%s), model %s'):format(tostring(result.authType), model) }
    -- Servers may say more (where the credentials went) in `messages`.
    for _, message in ipairs(type(result.messages) == 'table' and result.messages or {}) do
      if type(message) == 'string' then
        table.insert(lines, message)
      end
    end
    notify(table.concat(lines, '\n'))
  else
    notify('Qwen: sign-in did not complete (:QwenStatus says why)', vim.log.levels.WARN)
  end
end

--- Runs `qwen.auth` with `args`; Qwen OAuth opens the browser through Neovim's
--- own window/showDocument handling (the server prints the code when it cannot).
function M.auth(client, bufnr, args)
  args.uri = args.uri or rpc.folder_uri(client, bufnr)
  if args.method == 'qwen-oauth' then
    notify('Qwen: finish signing in in the browser (:QwenCancel stops waiting)')
    return rpc.stream(client, 'qwen.auth', args, bufnr, { on_done = auth_done })
  end
  return rpc.execute(client, 'qwen.auth', args, bufnr, auth_done)
end

local function ask_key(method, done)
  local key = vim.fn.inputsecret(
    method == 'coding-plan' and 'Coding Plan API key (sk-sp-…): ' or 'API key: '
  )
  if vim.trim(key) == '' then
    return
  end
  if method ~= 'openai' then
    return done({ apiKey = vim.trim(key) })
  end
  vim.ui.input({ prompt = 'Base URL (empty: keep the configured one): ' }, function(url)
    if url == nil then
      return
    end
    done({ apiKey = vim.trim(key), baseUrl = vim.trim(url) ~= '' and vim.trim(url) or nil })
  end)
end

--- :QwenAuth [method] [scope]
function M.auth_command(cmd)
  local bufnr = vim.api.nvim_get_current_buf()
  local method, scope
  for _, word in ipairs(cmd.fargs) do
    if vim.list_contains(AUTH_METHODS, word) then
      method = word
    elseif vim.list_contains(SCOPES, word) then
      scope = word
    else
      return notify(
        ('Qwen: unknown argument %q (methods: %s; scopes: %s)'):format(
          word,
          table.concat(AUTH_METHODS, ', '),
          table.concat(SCOPES, ', ')
        ),
        vim.log.levels.ERROR
      )
    end
  end
  local function go(chosen)
    if not chosen then
      return
    end
    with_client(bufnr, function(client)
      local args = { method = chosen, scope = scope }
      if chosen == 'qwen-oauth' then
        return M.auth(client, bufnr, args)
      end
      ask_key(chosen, function(key)
        M.auth(client, bufnr, vim.tbl_extend('force', args, key))
      end)
    end)
  end
  if method then
    return go(method)
  end
  vim.ui.select(AUTH_METHODS, {
    prompt = 'Sign in to Qwen with',
    format_item = function(item)
      return AUTH_LABELS[item]
    end,
  }, go)
end

--- :QwenLogout [scope]
function M.logout_command(cmd)
  local bufnr = vim.api.nvim_get_current_buf()
  local scope = cmd.fargs[1]
  if scope and not vim.list_contains(SCOPES, scope) then
    return notify('Qwen: the scope is workspace or user', vim.log.levels.ERROR)
  end
  with_client(bufnr, function(client)
    local args = { uri = rpc.folder_uri(client, bufnr), scope = scope }
    rpc.execute(client, 'qwen.logout', compact(args), bufnr, function(err)
      if err then
        return report_error('Qwen sign-out', err)
      end
      notify('Qwen: signed out')
    end)
  end)
end

local function select_model(client, bufnr, model)
  local args = { model = model, uri = rpc.folder_uri(client, bufnr) }
  rpc.execute(client, 'qwen.selectModel', args, bufnr, function(err, result)
    if err then
      return report_error('Qwen model', err)
    end
    local chosen = type(result) == 'table' and result.model or model
    notify('Qwen: using ' .. tostring(chosen))
  end)
end

--- A model's line in the picker.
function M.format_model(item, current)
  local name = type(item.name) == 'string' and item.name ~= '' and item.name or item.id
  local parts = { name }
  if name ~= item.id then
    table.insert(parts, '(' .. item.id .. ')')
  end
  if type(item.source) == 'string' and item.source ~= '' then
    table.insert(parts, '· ' .. item.source)
  end
  if item.id == current then
    table.insert(parts, '· current')
  end
  return table.concat(parts, ' ')
end

--- :QwenModel [name]; without a name, pick from `qwen.listModels`.
function M.model_command(cmd)
  local bufnr = vim.api.nvim_get_current_buf()
  with_client(bufnr, function(client)
    if cmd.args ~= '' then
      return select_model(client, bufnr, vim.trim(cmd.args))
    end
    local uri = rpc.folder_uri(client, bufnr)
    rpc.execute(client, 'qwen.listModels', compact({ uri = uri }), bufnr, function(err, models)
      if err then
        return report_error('Qwen models', err)
      end
      if type(models) ~= 'table' or #models == 0 then
        local message = 'Qwen: no models are available; sign in first (:QwenAuth)'
        return notify(message, vim.log.levels.WARN)
      end
      local current = status.get(bufnr)
      current = current and current.model
      vim.ui.select(models, {
        prompt = 'Qwen model',
        kind = 'qwen_ls.model',
        format_item = function(item)
          return M.format_model(item, current)
        end,
      }, function(item)
        if item then
          select_model(client, bufnr, item.id)
        end
      end)
    end)
  end)
end

local function complete_models(arg_lead)
  local client = rpc.get_client(vim.api.nvim_get_current_buf())
  if not client or not rpc.supports(client, 'qwen.listModels') then
    return {}
  end
  local err, models = rpc.execute_sync(client, 'qwen.listModels', vim.empty_dict(), 0, 1000)
  if err or type(models) ~= 'table' then
    return {}
  end
  local ids = {}
  for _, model in ipairs(models) do
    if type(model.id) == 'string' and vim.startswith(model.id, arg_lead) then
      table.insert(ids, model.id)
    end
  end
  return ids
end

--- :QwenStatus: what the server resolved for this buffer's folder, and where from.
function M.status_command()
  local bufnr = vim.api.nvim_get_current_buf()
  with_client(bufnr, function(client)
    local args = compact({ uri = rpc.folder_uri(client, bufnr) })
    rpc.execute(client, 'qwen.status', args, bufnr, function(err, result)
      if err then
        return report_error('Qwen status', err)
      end
      result = type(result) == 'table' and result or {}
      local level = result.signedIn and vim.log.levels.INFO or vim.log.levels.WARN
      notify(table.concat(status.report(result), '\n'), level)
    end)
  end)
end

--- :QwenCancel: stops every running answer, edit or sign-in.
function M.cancel_command()
  if rpc.stop_all() == 0 then
    notify('Qwen: nothing is running')
  end
end

--- The statusline text for the current buffer, fed by `qwen/status`.
function M.statusline()
  return status.statusline(vim.api.nvim_get_current_buf())
end

-- Code actions carry `qwen.chat` and `qwen.edit`; run them here so the answer
-- streams into the chat buffer and a refused edit is reported. Their `notify`
-- asks the server to show the outcome to clients without a plugin: not needed here.
local function action_args(command)
  local args = type(command.arguments) == 'table' and command.arguments[1] or nil
  if type(args) ~= 'table' then
    return nil
  end
  args = vim.deepcopy(args)
  args.notify = nil
  return args
end

local client_commands = {
  ['qwen.chat'] = function(command, ctx)
    local args = action_args(command)
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    if type(args) ~= 'table' or type(args.prompt) ~= 'string' or not client then
      return
    end
    local bufnr = ctx.bufnr or vim.api.nvim_get_current_buf()
    chat.ask({
      client = client,
      bufnr = bufnr,
      args = args,
      label = type(args.range) == 'table' and range.label(bufnr, args.range) or nil,
      new = true,
    })
  end,
  ['qwen.edit'] = function(command, ctx)
    local args = action_args(command)
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    if type(args) ~= 'table' or not client then
      return
    end
    local bufnr = vim.uri_to_bufnr(args.uri)
    run_edit(client, bufnr, args)
  end,
}

local function define_commands()
  local function complete_auth(arg_lead)
    return vim.tbl_filter(function(word)
      return vim.startswith(word, arg_lead)
    end, vim.list_extend(vim.list_slice(AUTH_METHODS), SCOPES))
  end
  local function complete_scope()
    return SCOPES
  end
  local function define(name, fn, opts, desc)
    vim.api.nvim_create_user_command(name, fn, vim.tbl_extend('force', opts, { desc = desc }))
  end
  define('QwenChat', M.chat, { nargs = '*', range = true, bang = true },
    'Ask Qwen; the answer streams into the chat buffer')
  define('QwenEdit', M.edit, { nargs = '*', range = true }, 'Let Qwen rewrite the selection')
  define('QwenAuth', M.auth_command, { nargs = '*', complete = complete_auth }, 'Sign in to Qwen')
  define('QwenLogout', M.logout_command, { nargs = '?', complete = complete_scope },
    'Sign out of Qwen')
  define('QwenModel', M.model_command, { nargs = '?', complete = complete_models },
    'Choose the Qwen model')
  define('QwenStatus', M.status_command, { nargs = 0 },
    'Show what qwen-ls resolved, and from where')
  define('QwenCancel', M.cancel_command, { nargs = 0 },
    'Stop the running Qwen answer, edit or sign-in')
end

--- Configures qwen-ls (`vim.lsp.config('qwen_ls', …)`), enables it, and defines the
--- :Qwen* commands.
function M.setup(opts)
  opts = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  vim.validate('cmd', opts.cmd, function(cmd)
    return cmd == nil or (type(cmd) == 'table' and #cmd > 0) or type(cmd) == 'function'
  end, 'a list such as { "qwen-ls" }')
  M.options = opts
  chat.options = vim.tbl_deep_extend('force', chat.options, opts.chat or {})

  local config = {
    root_markers = opts.root_markers,
    handlers = M.handlers(),
    commands = client_commands,
  }
  if opts.cmd then
    config.cmd = opts.cmd
  end
  if opts.filetypes then
    config.filetypes = opts.filetypes
  end
  if next(opts.settings) then
    config.init_options = opts.settings
    config.settings = { qwen = opts.settings }
  end
  vim.lsp.config(rpc.NAME, config)
  if opts.enable then
    vim.lsp.enable(rpc.NAME)
  end
  define_commands()
end

return M
