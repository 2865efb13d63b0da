-- LÖVE's settings for spec/hosts/love: examples/love's own (DALLE_EXAMPLE).
dofile(assert(os.getenv("DALLE_EXAMPLE"), "DALLE_EXAMPLE is not set") .. "/conf.lua")
