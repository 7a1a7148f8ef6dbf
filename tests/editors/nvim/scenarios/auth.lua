-- :QwenAuth qwen-oauth: the verification page opens through Neovim's own
-- window/showDocument handling (vim.ui.open, recorded here); when no browser can
-- be opened, the URL and code are shown instead.
return function(T)
  T.capture_notify()
  local qwen = T.setup()
  vim.cmd.edit(T.params.file)
  local client = T.client()
  if not T.require_commands(client, { 'qwen.auth' }) then
    return
  end

  T.result.opened = {}
  local browser_works = true
  vim.ui.open = function(uri)
    table.insert(T.result.opened, uri)
    if not browser_works then
      return nil, 'no browser here'
    end
    return {
      wait = function()
        return { code = 0, stdout = '', stderr = '' }
      end,
    }, nil
  end

  -- Should the server ask something with window/showMessageRequest, record it.
  vim.ui.select = function(items, opts, on_choice)
    table.insert(T.notes, { message = 'select: ' .. tostring(opts.prompt), level = 2 })
    on_choice(nil)
  end

  vim.cmd('QwenAuth qwen-oauth')
  T.result.signed_in = T.wait_note('Qwen: signed in', 15000).message
  T.result.statusline = qwen.statusline()
  local creds = vim.env.HOME .. '/.qwen/oauth_creds.json'
  T.result.creds = table.concat(vim.fn.readfile(creds), '\n')

  browser_works = false
  T.notes = {}
  vim.cmd('QwenAuth qwen-oauth')
  T.wait_note('Qwen: signed in', 15000)
  T.result.without_browser = T.notes

  local offered = client.server_capabilities.executeCommandProvider.commands
  if vim.list_contains(offered, 'qwen.logout') then
    T.notes = {}
    vim.cmd('QwenLogout user')
    T.result.logout = T.wait_note('Qwen: signed out').message
    T.result.creds_after_logout = vim.fn.filereadable(creds) == 1
  end
end
