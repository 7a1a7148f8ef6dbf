--- qwen-ls, the Qwen Code language server, for `vim.lsp.enable('qwen_ls')`.
--- Change anything with `vim.lsp.config('qwen_ls', { ... })`, for example `cmd`.
---
--- The handlers keep the statusline (`require('qwen_ls').statusline()`) fed and
--- route the plugin's streamed answers; all other `$/progress` goes on to Neovim's
--- own handler. Pages the server opens go through Neovim's own handler too.

---@type vim.lsp.Config
return {
  cmd = { 'qwen-ls' },
  root_markers = { '.qwen', '.git' },
  handlers = {
    ['$/progress'] = function(...)
      return require('qwen_ls.rpc').progress_handler(...)
    end,
    ['qwen/status'] = function(...)
      return require('qwen_ls.status').handler(...)
    end,
    ['window/showDocument'] = function(...)
      return require('qwen_ls.rpc').show_document_handler(...)
    end,
  },
}
