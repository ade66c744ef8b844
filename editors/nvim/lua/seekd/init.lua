-- seekd Neovim client: starts `seekd lsp`, asks for inline completions as the user types, shows
-- them as ghost text (overlay on the cursor line, virtual lines below), accepts them whole, by
-- word or by line, and reports shown/accepted completions back to the daemon.  The daemon does
-- the work (debounce, cancellation, caching); this file is transport and UI only.
--
-- Works on Neovim 0.7.2 and later.  On versions whose built-in client implements
-- textDocument/inlineCompletion (0.12+), that implementation is used instead (untested here:
-- only 0.7.2 can be installed on our machines).
local M = {}

local api = vim.api
local ns = api.nvim_create_namespace('seekd')

local defaults = {
  cmd = { 'seekd', 'lsp' },
  filetypes = { 'c', 'cpp', 'python', 'javascript', 'javascriptreact', 'typescript',
    'typescriptreact', 'go', 'rust', 'java', 'sh', 'bash', 'json', 'lua' },
  init_options = {},          -- passed as initializationOptions (models, budgets, ...)
  keys = { accept = '<Tab>', accept_word = '<C-Right>', accept_line = '<C-Down>', dismiss = '<C-]>' },
  auto = true,                -- request as the user types; false = only on :SeekdComplete / key
  root_markers = { '.git' },
}

local cfg = vim.deepcopy(defaults)
local client_id = nil
local enabled = true
-- The suggestion on screen: { buf, row, col (byte), text, item, req_line (line text when shown) }
local shown = nil
local pending = nil        -- { client, id } of the in-flight request
local suppress_moved = false
local status = { state = 'starting' } -- last seekd/status notification

local function client()
  return client_id and vim.lsp.get_client_by_id(client_id) or nil
end

local function native_inline()
  return vim.lsp.inline_completion ~= nil and type(vim.lsp.inline_completion.enable) == 'function'
end

local function clear()
  if shown then
    pcall(api.nvim_buf_clear_namespace, shown.buf, ns, 0, -1)
  end
  shown = nil
end

local function cancel_pending()
  if pending then
    pcall(pending.client.cancel_request, pending.id)
    pending = nil
  end
end

local function split_lines(s)
  local out = {}
  for line in (s .. '\n'):gmatch('(.-)\n') do
    table.insert(out, line)
  end
  return out
end

-- Draws text as ghost text at (row, col): the first line over the rest of the cursor line, the
-- other lines as virtual lines below it.
local function draw(buf, row, col, text)
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  if text == '' then
    return
  end
  local lines = split_lines(text)
  local opts = { hl_mode = 'combine', priority = 200 }
  local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], 'SeekdGhost' } }
    opts.virt_text_pos = col >= #line and 'overlay' or 'eol'
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do
      table.insert(opts.virt_lines, { { lines[i], 'SeekdGhost' } })
    end
  end
  api.nvim_buf_set_extmark(buf, ns, row, math.min(col, #line), opts)
end

local function show(buf, row, col, item)
  local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
  local text = item.insertText
  if type(text) == 'table' then
    text = text.value or ''
  end
  -- insertText replaces item.range; what is new is what follows the text already typed.
  local start_col = col
  if item.range then
    start_col = vim.str_byteindex(line, item.range.start.character, true)
  end
  local typed = line:sub(start_col + 1, col)
  if text:sub(1, #typed) ~= typed then
    return
  end
  local rest = text:sub(#typed + 1)
  if rest == '' then
    return
  end
  shown = { buf = buf, row = row, col = col, text = rest, item = item, line = line }
  draw(buf, row, col, rest)
  local c = client()
  if c then
    c.notify('textDocument/didShowCompletion', { item = item })
  end
end

function M.request(trigger)
  if not enabled then
    return
  end
  local c = client()
  if not c then
    return
  end
  local buf = api.nvim_get_current_buf()
  if not vim.lsp.buf_is_attached(buf, client_id) then
    return
  end
  cancel_pending()
  local params = vim.lsp.util.make_position_params(0, 'utf-16')
  params.context = { triggerKind = trigger or 2 }
  local cursor = api.nvim_win_get_cursor(0)
  local ok, id = c.request('textDocument/inlineCompletion', params, function(err, result)
    pending = nil
    if err or not result then
      return
    end
    local items = result.items or result
    if type(items) ~= 'table' or not items[1] then
      return
    end
    local now = api.nvim_win_get_cursor(0)
    if api.nvim_get_current_buf() ~= buf or now[1] ~= cursor[1] or now[2] ~= cursor[2]
        or api.nvim_get_mode().mode:sub(1, 1) ~= 'i' then
      return -- stale: the user moved on
    end
    show(buf, cursor[1] - 1, cursor[2], items[1])
  end, buf)
  if ok then
    pending = { client = c, id = id }
  end
end

-- Inserts part of the suggestion at the cursor.  kind: 'all', 'word' or 'line'.
local function accept(kind)
  local s = shown
  if not s then
    return false
  end
  local part = s.text
  if kind == 'word' then
    part = s.text:match('^%s*[%w_]+') or s.text:match('^%s*[^%w_%s]+') or s.text:match('^%s+') or s.text
  elseif kind == 'line' then
    part = s.text:match('^[^\n]*\n?') or s.text
  end
  local lines = split_lines(part)
  clear()
  suppress_moved = true
  api.nvim_buf_set_text(s.buf, s.row, s.col, s.row, s.col, lines)
  local end_row = s.row + #lines - 1
  local end_col = (#lines == 1) and (s.col + #lines[1]) or #lines[#lines]
  api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  local c = client()
  if c then
    if #part == #s.text then
      if s.item.command then
        c.request('workspace/executeCommand', s.item.command, function() end, s.buf)
      end
    else
      c.notify('textDocument/didPartiallyAcceptCompletion',
        { item = s.item, acceptedLength = vim.str_utfindex(part) })
    end
  end
  if #part < #s.text then
    -- keep showing what is left, as if the user had typed it
    local rest = s.text:sub(#part + 1)
    local line = api.nvim_buf_get_lines(s.buf, end_row, end_row + 1, false)[1] or ''
    shown = { buf = s.buf, row = end_row, col = end_col, text = rest, item = s.item, line = line }
    draw(s.buf, end_row, end_col, rest)
  end
  return true
end

M.accept = function() return accept('all') end
M.accept_word = function() return accept('word') end
M.accept_line = function() return accept('line') end
M.dismiss = clear
M.visible = function() return shown ~= nil end
M.shown_text = function() return shown and shown.text or nil end

local function map(key, fn)
  if not key or key == '' then
    return
  end
  vim.keymap.set('i', key, function()
    if not fn() then
      api.nvim_feedkeys(api.nvim_replace_termcodes(key, true, false, true), 'n', false)
    end
  end, { silent = true, desc = 'seekd' })
end

-- Typing through: when the user types exactly what the suggestion predicted, advance the ghost
-- text locally (no request); anything else dismisses it and asks again.
local function on_text_changed()
  local buf = api.nvim_get_current_buf()
  local cur = api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  if shown and shown.buf == buf and shown.row == row and col > shown.col then
    local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
    local typed = line:sub(shown.col + 1, col)
    if shown.text:sub(1, #typed) == typed and line:sub(1, shown.col) == shown.line:sub(1, shown.col) then
      shown.text = shown.text:sub(#typed + 1)
      shown.col = col
      shown.line = line
      if shown.text == '' then
        clear()
      else
        draw(buf, row, col, shown.text)
      end
      return
    end
  end
  clear()
  if cfg.auto then
    M.request(2)
  end
end

local function attach(buf)
  if not client_id then
    local root = vim.fn.getcwd()
    local marker = vim.fn.finddir('.git', vim.fn.expand('%:p:h') .. ';')
    if marker ~= '' then
      root = vim.fn.fnamemodify(marker, ':p:h:h')
    end
    client_id = vim.lsp.start_client({
      name = 'seekd',
      cmd = cfg.cmd,
      root_dir = root,
      init_options = cfg.init_options,
      handlers = {
        ['seekd/status'] = function(_, result)
          M._on_status(result)
        end,
        ['$/progress'] = function(err, result, ctx, config)
          if M._on_progress(result) then
            return
          end
          return vim.lsp.handlers['$/progress'](err, result, ctx, config)
        end,
      },
      on_exit = function()
        client_id = nil
      end,
    })
  end
  if client_id then
    vim.lsp.buf_attach_client(buf, client_id)
  end
  if native_inline() then
    pcall(vim.lsp.inline_completion.enable, true, { bufnr = buf })
  end
end

-- The daemon answers requests made while the models load with nothing; once it reports
-- 'ready', ask again where the user is typing so the first suggestion does not wait for a key.
function M._on_status(result)
  if type(result) ~= 'table' then
    return
  end
  local was = status.state
  status = result
  if result.state == 'ready' and was ~= 'ready' and cfg.auto and not shown and not native_inline() then
    vim.schedule(function()
      if api.nvim_get_mode().mode:sub(1, 1) == 'i' then
        M.request(2)
      end
    end)
  end
end

M.status = function() return status end

-- ---- explain -------------------------------------------------------------------------------
local explain_state = nil -- { token, buf, win }

function M._on_progress(result)
  if not explain_state or not result or result.token ~= explain_state.token then
    return false
  end
  local v = result.value or {}
  if v.message and api.nvim_buf_is_valid(explain_state.buf) then
    api.nvim_buf_set_option(explain_state.buf, 'modifiable', true)
    api.nvim_buf_set_lines(explain_state.buf, 0, -1, false, split_lines(v.message))
  end
  return true
end

function M.explain(line1, line2)
  local c = client()
  if not c then
    vim.notify('seekd: not running', vim.log.levels.WARN)
    return
  end
  local buf = api.nvim_get_current_buf()
  local last = api.nvim_buf_get_lines(buf, line2 - 1, line2, false)[1] or ''
  local token = 'seekd-explain-' .. tostring(vim.loop.hrtime())
  local fbuf, win = vim.lsp.util.open_floating_preview({ '_explaining…_' }, 'markdown',
    { border = 'rounded', max_width = 100, max_height = 30, focus_id = 'seekd-explain' })
  explain_state = { token = token, buf = fbuf, win = win }
  c.request('workspace/executeCommand', {
    command = 'seekd.explain',
    arguments = { {
      textDocument = { uri = vim.uri_from_bufnr(buf) },
      range = { start = { line = line1 - 1, character = 0 },
        ['end'] = { line = line2 - 1, character = vim.str_utfindex(last) } },
    } },
    workDoneToken = token,
  }, function(err, result)
    local text = err and ('seekd: ' .. (err.message or 'error')) or (result and (result.markdown or result.value)) or ''
    if api.nvim_buf_is_valid(fbuf) then
      api.nvim_buf_set_option(fbuf, 'modifiable', true)
      api.nvim_buf_set_lines(fbuf, 0, -1, false, split_lines(text))
    end
    explain_state = nil
  end, buf)
end

function M.toggle()
  enabled = not enabled
  clear()
  cancel_pending()
  vim.notify('seekd inline completion ' .. (enabled and 'on' or 'off'))
end

function M.client_id()
  return client_id
end

function M.setup(opts)
  cfg = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  api.nvim_set_hl(0, 'SeekdGhost', { default = true, link = 'Comment' })
  local group = api.nvim_create_augroup('seekd', { clear = true })
  api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = cfg.filetypes,
    callback = function(ev) attach(ev.buf) end,
  })
  if native_inline() then
    return -- the built-in client shows and accepts inline completions itself
  end
  api.nvim_create_autocmd('TextChangedI', { group = group, callback = on_text_changed })
  api.nvim_create_autocmd('CursorMovedI', {
    group = group,
    callback = function()
      if suppress_moved then
        suppress_moved = false
        return
      end
      if shown then
        local cur = api.nvim_win_get_cursor(0)
        if cur[1] - 1 ~= shown.row or cur[2] ~= shown.col then
          clear()
        end
      end
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    callback = function() clear(); cancel_pending() end,
  })
  map(cfg.keys.accept, M.accept)
  map(cfg.keys.accept_word, M.accept_word)
  map(cfg.keys.accept_line, M.accept_line)
  map(cfg.keys.dismiss, function() local v = shown ~= nil; clear(); return v end)
end

return M
