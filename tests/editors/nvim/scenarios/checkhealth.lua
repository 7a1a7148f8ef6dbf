-- :checkhealth qwen_ls with a running server.
return function(T)
  T.setup()
  vim.cmd.edit(T.params.file)
  T.client()
  vim.cmd('checkhealth qwen_ls')
  T.result.lines = T.lines(0)
end
