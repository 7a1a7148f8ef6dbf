-- :QwenModel picks from qwen.listModels with vim.ui.select, and :QwenModel NAME
-- selects directly; each choice is the model of the next chat.
return function(T)
  T.capture_notify()
  local qwen = T.setup()
  local chat = require('qwen_ls.chat')
  vim.cmd.edit(T.params.file)
  local client = T.client()
  if not T.require_commands(client, { 'qwen.listModels', 'qwen.selectModel' }) then
    return
  end

  T.result.offered = {}
  vim.ui.select = function(items, opts, on_choice)
    local chosen
    for _, item in ipairs(items) do
      table.insert(T.result.offered, {
        id = item.id,
        name = item.name,
        source = item.source,
        label = opts.format_item(item),
      })
      if item.id == T.params.pick then
        chosen = item
      end
    end
    on_choice(chosen)
  end

  vim.cmd('QwenModel')
  T.wait_note('Qwen: using ' .. T.params.pick)
  vim.cmd('QwenChat Which model?')
  T.wait(10000, function()
    return chat.state.last ~= nil
  end, 'the first answer')
  T.result.first = chat.state.last
  vim.wait(3000, function()
    return qwen.statusline():find(T.params.pick, 1, true) ~= nil
  end, 10)
  T.result.statusline_after_pick = qwen.statusline()

  vim.cmd('QwenModel ' .. T.params.then_pick)
  T.wait_note('Qwen: using ' .. T.params.then_pick)
  chat.state.last = nil
  vim.cmd('QwenChat! And now?')
  T.wait(10000, function()
    return chat.state.last ~= nil
  end, 'the second answer')
  T.result.second = chat.state.last
end
