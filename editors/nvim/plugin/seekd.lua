-- seekd for Neovim: loads the plugin's commands; completion starts after require('seekd').setup().
if vim.g.loaded_seekd then
  return
end
vim.g.loaded_seekd = true

vim.api.nvim_create_user_command('SeekdExplain', function(opts)
  require('seekd').explain(opts.line1, opts.line2)
end, { range = true, desc = 'Explain the selected code with seekd' })

vim.api.nvim_create_user_command('SeekdToggle', function()
  require('seekd').toggle()
end, { desc = 'Turn seekd inline completion on or off' })
