-- Headless Neovim drives editors/nvim against the real `seekd lsp` with the bundled demo models
-- (run by tests/ext/editor_nvim.sh).  Keys go through the typeahead (nvim_feedkeys 't'), so the
-- plugin sees real TextChangedI / CursorMovedI events and real mappings; the steps run from timers
-- on the ordinary main loop.  Exit code: 0 pass, 1 fail (message on stderr via the result file).
local api = vim.api
local env = vim.env
local result_file = env.SEEKD_NVIM_RESULT
local log = {}

local function finish(code, msg)
  table.insert(log, msg)
  local f = io.open(result_file, 'w')
  f:write(table.concat(log, '\n') .. '\n')
  f:close()
  -- stop the client so the daemon records what it got, then leave with the code
  for _, c in pairs(vim.lsp.get_active_clients()) do
    c.stop()
  end
  vim.wait(3000, function() return #vim.lsp.get_active_clients() == 0 end, 50)
  vim.cmd((code == 0) and 'qall!' or 'cquit!')
end

local function note(msg)
  table.insert(log, string.format('[%.1fs] %s', (vim.loop.hrtime() - T0) / 1e9, msg))
end

T0 = vim.loop.hrtime()
local seekd = require('seekd')
local ns = api.nvim_create_namespace('seekd')

local function keys(s)
  api.nvim_feedkeys(api.nvim_replace_termcodes(s, true, false, true), 't', false)
end

-- Ghost text currently drawn in the 'seekd' namespace: concatenated virt_text / virt_lines.
local function ghost()
  local marks = api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local parts = {}
  for _, m in ipairs(marks) do
    local d = m[4] or {}
    for _, chunk in ipairs(d.virt_text or {}) do
      table.insert(parts, chunk[1])
    end
    for _, l in ipairs(d.virt_lines or {}) do
      local s = {}
      for _, chunk in ipairs(l) do
        table.insert(s, chunk[1])
      end
      table.insert(parts, '\n' .. table.concat(s))
    end
  end
  return table.concat(parts), marks
end

local function buftext()
  return table.concat(api.nvim_buf_get_lines(0, 0, -1, false), '\n')
end

-- Polls cond every 50 ms from a timer (the main loop keeps handling input and RPC meanwhile);
-- calls k() when it holds, fails after timeout_ms.
local function await(what, cond, timeout_ms, k)
  local start = vim.loop.now()
  local function tick()
    local ok, v = pcall(cond)
    if ok and v then
      note(what .. ': ok')
      return k(v)
    end
    if vim.loop.now() - start > timeout_ms then
      return finish(1, 'FAIL: timed out waiting for ' .. what .. ' (mode ' .. api.nvim_get_mode().mode
        .. ', client ' .. tostring(seekd.client_id()) .. ', buffer:\n' .. buftext() .. ')')
    end
    vim.defer_fn(tick, 50)
  end
  vim.defer_fn(tick, 50)
end

local function check(cond, msg)
  if not cond then
    finish(1, 'FAIL: ' .. msg)
    error('stop')
  end
end

seekd.setup({ cmd = { env.SEEKD_BIN, 'lsp', '--log-level', 'info', '--log-file', env.SEEKD_NVIM_LOG },
  init_options = { threads = 1 } })
vim.cmd('edit ' .. vim.fn.fnameescape(env.SEEKD_NVIM_FILE))
check(vim.bo.filetype == 'python', 'filetype is ' .. vim.bo.filetype)

local steps = {}

-- 1. the client starts and attaches
steps[1] = function()
  await('client attached', function()
    local id = seekd.client_id()
    return id and vim.lsp.buf_is_attached(0, id) and vim.lsp.get_client_by_id(id).initialized
  end, 20000, steps[2])
end

-- 2. type at the end of the file; ghost text appears
local typed_at
steps[2] = function()
  api.nvim_win_set_cursor(0, { api.nvim_buf_line_count(0), 0 })
  keys('o')
  keys('return ') -- autoindent (on by default) supplies the indent
  await('ghost text after typing', function()
    local g = ghost()
    return g and g ~= '' and seekd.visible() and api.nvim_get_mode().mode == 'i'
  end, 40000, steps[3])
end

-- 3. another key (Escape leaves insert mode) dismisses it; the buffer is unchanged
local before
steps[3] = function()
  before = buftext()
  keys('<Esc>')
  await('dismissed on <Esc>', function()
    return ghost() == nil and not seekd.visible() and api.nvim_get_mode().mode == 'n'
  end, 5000, function()
    check(buftext() == before, 'dismissal changed the buffer')
    steps[4]()
  end)
end

-- 4. back in insert mode at the end of the line: type until a suggestion shows (the demo model's
-- post-processed output may be empty at some positions), then accept it with <Tab>
local suggestion
-- first a typo corrected at once (same position as step 2: the daemon's cache), then more text
local more = { 'x<BS>', 's', 'i', 'd', 'e', ' ', '*', ' ', 's' }
local function accept_shown(g)
  suggestion = seekd.shown_text()
  check(suggestion == g, 'extmark text ' .. vim.inspect(g) .. ' differs from the suggestion '
    .. vim.inspect(suggestion))
  before = buftext()
  typed_at = api.nvim_win_get_cursor(0)
  keys('<Tab>')
  await('accepted with <Tab>', function() return buftext() ~= before end, 5000, steps[5])
end
local function type_more(i)
  if i > #more then
    return finish(1, 'FAIL: no ghost text after typing ' .. table.concat(more))
  end
  keys(more[i])
  local start = vim.loop.now()
  local function tick()
    local g = ghost()
    if g and g ~= '' and seekd.visible() and api.nvim_get_mode().mode == 'i' then
      note('ghost text after ' .. vim.inspect(api.nvim_get_current_line()) .. ': ok')
      return accept_shown(g)
    end
    if vim.loop.now() - start > 8000 then
      return type_more(i + 1)
    end
    vim.defer_fn(tick, 50)
  end
  vim.defer_fn(tick, 50)
end
steps[4] = function()
  keys('A')
  type_more(1)
end

-- 5. the buffer holds the text before the cursor + the suggestion + the rest
steps[5] = function()
  local lines = vim.split(before, '\n', { plain = true })
  local row, col = typed_at[1], typed_at[2]
  local line = lines[row]
  local expect_lines = {}
  for i = 1, row - 1 do
    table.insert(expect_lines, lines[i])
  end
  local joined = line:sub(1, col) .. suggestion .. line:sub(col + 1)
  for _, l in ipairs(vim.split(joined, '\n', { plain = true })) do
    table.insert(expect_lines, l)
  end
  for i = row + 1, #lines do
    table.insert(expect_lines, lines[i])
  end
  local want = table.concat(expect_lines, '\n')
  local got = buftext()
  check(got == want, 'after <Tab>: want ' .. vim.inspect(want) .. ' got ' .. vim.inspect(got))
  note('accepted ' .. vim.inspect(suggestion) .. '; line now ' .. vim.inspect(api.nvim_get_current_line()))
  -- a <Tab> with nothing shown is a plain <Tab> (the mapping falls through)
  keys('<Esc>')
  await('normal mode', function() return api.nvim_get_mode().mode == 'n' end, 5000, function()
    api.nvim_buf_set_lines(0, -1, -1, false, { '' })
    api.nvim_win_set_cursor(0, { api.nvim_buf_line_count(0), 0 })
    seekd.toggle() -- off: no request, so <Tab> must insert a tab/indent
    keys('i<Tab>')
    await('plain <Tab> when nothing is shown', function()
      local l = api.nvim_buf_get_lines(0, -2, -1, false)[1]
      return l ~= '' and l:match('^%s+$')
    end, 5000, function()
      finish(0, 'PASS')
    end)
  end)
end

steps[1]()
