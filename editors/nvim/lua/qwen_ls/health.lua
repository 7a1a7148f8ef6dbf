--- :checkhealth qwen_ls: Neovim, the server command and its version, and what each
--- running server resolved for its workspace folders.

local rpc = require('qwen_ls.rpc')

local M = {}

local health = vim.health

-- The protocol's commands; each :Qwen* command needs one of them.
local COMMANDS = {
  'qwen.chat',
  'qwen.status',
  'qwen.edit',
  'qwen.auth',
  'qwen.logout',
  'qwen.listModels',
  'qwen.selectModel',
}

local function check_neovim()
  health.start('qwen_ls: Neovim')
  local version = tostring(vim.version())
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. version)
  else
    health.error('Neovim ' .. version .. ' is too old', 'qwen_ls needs Neovim 0.11 or later')
  end
end

local function check_server()
  health.start('qwen_ls: server')
  local config = vim.lsp.config[rpc.NAME]
  if not config then
    health.error('no configuration named qwen_ls', {
      'Call require("qwen_ls").setup(), or put editors/nvim on the runtimepath',
    })
    return
  end
  local cmd = config.cmd
  if type(cmd) == 'function' then
    health.info('the server command is a function; it is not checked here')
    return
  end
  if type(cmd) ~= 'table' or not cmd[1] then
    health.error('no server command (cmd)')
    return
  end
  local shown = table.concat(cmd, ' ')
  if vim.fn.executable(cmd[1]) == 0 then
    health.error(('server not found: %s is not executable'):format(cmd[1]), {
      'Install it: pip install qwen-ls (or pipx install qwen-ls)',
      'Or point setup({ cmd = { "/path/to/qwen-ls" } }) at it',
    })
    return
  end
  health.ok('server command: ' .. shown)

  local argv = vim.list_extend(vim.list_slice(cmd), { '--version' })
  local ok, process = pcall(vim.system, argv, { text = true })
  local done = ok and process:wait(10000) or nil
  local out = done and vim.trim((done.stdout or '') .. (done.stderr or '')) or ''
  if done and done.code == 0 and out:match('^qwen%-ls ') then
    health.ok('version: ' .. out)
  else
    health.error(
      ('%s --version failed: %s'):format(shown, out ~= '' and out or tostring(process)),
      { 'Check that this command starts qwen-ls in a terminal' }
    )
  end

  if vim.lsp.is_enabled and not vim.lsp.is_enabled(rpc.NAME) then
    health.warn('qwen_ls is not enabled', {
      'Call require("qwen_ls").setup() or vim.lsp.enable("qwen_ls")',
    })
  end
end

local function report_folder(client, label, uri)
  local argument = uri and { uri = uri } or vim.empty_dict()
  local err, result = rpc.execute_sync(client, 'qwen.status', argument, 0, 3000)
  if err then
    health.error(('%s: qwen.status failed: %s'):format(label, rpc.describe_error(err)))
    return
  end
  local problems = type(result.problems) == 'table' and result.problems or {}
  local where = type(result.sources) == 'table' and result.sources.apiKey
  local summary = ('%s: %s, model %s%s'):format(
    label,
    tostring(result.authType ~= vim.NIL and result.authType or 'no auth type'),
    tostring(result.model ~= vim.NIL and result.model or 'none'),
    type(where) == 'string' and (', key from ' .. where) or ''
  )
  if result.signedIn and #problems == 0 then
    health.ok(summary)
  elseif result.signedIn then
    health.warn(summary, problems)
  else
    local advice = vim.list_slice(problems)
    table.insert(advice, 'Sign in with :QwenAuth, or set OPENAI_API_KEY in .qwen/.env')
    health.warn(label .. ': not signed in', advice)
  end
end

local function check_clients()
  health.start('qwen_ls: running servers')
  local clients = vim.lsp.get_clients({ name = rpc.NAME })
  if #clients == 0 then
    health.info('qwen-ls is not running; it starts when you open a file (or run :QwenChat)')
    return
  end
  for _, client in ipairs(clients) do
    local info = client.server_info or {}
    health.ok(
      ('client %d: %s %s, position encoding %s'):format(
        client.id,
        info.name or 'qwen-ls',
        info.version or '(version unknown)',
        client.offset_encoding
      )
    )
    local missing = vim.tbl_filter(function(command)
      return not rpc.supports(client, command)
    end, COMMANDS)
    if #missing > 0 then
      health.warn('this server does not offer ' .. table.concat(missing, ', '), {
        'Update qwen-ls: the matching :Qwen* commands fail until then',
      })
    end
    local folders = client.workspace_folders or {}
    if #folders == 0 then
      report_folder(client, 'user level (no workspace folder)', nil)
    end
    for _, folder in ipairs(folders) do
      report_folder(client, vim.uri_to_fname(folder.uri), folder.uri)
    end
  end
end

function M.check()
  check_neovim()
  check_server()
  check_clients()
end

return M
