-- LÖVE's settings for examples/love: a small window and no audio, which the
-- example never plays.
-- luacheck: read globals love
-- luacheck: globals love.conf
function love.conf(t)
  t.window.title = "lua-dalle in LÖVE"
  t.window.width, t.window.height = 640, 360
  t.modules.audio = false
  t.modules.sound = false
end
