/* Every difference between Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT that the core
 * relies on, in one place, so the rest of src/ is written against 5.4. */
#ifndef DALLE_COMPAT_H
#define DALLE_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen lua_objlen
#endif

/* LuaJIT is 5.1 but already has these 5.2 auxiliary functions. */
#if LUA_VERSION_NUM < 502 && !defined(luaL_newlib)
#define luaL_newlib(L, l) (lua_newtable(L), luaL_setfuncs(L, l, 0))

static inline void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name; l++) {
        for (int i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

static inline void luaL_setmetatable(lua_State *L, const char *tname)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}

static inline void *luaL_testudata(lua_State *L, int index, const char *tname)
{
    void *p = lua_touserdata(L, index);
    if (p && lua_getmetatable(L, index)) {
        luaL_getmetatable(L, tname);
        if (!lua_rawequal(L, -1, -2)) p = NULL;
        lua_pop(L, 2);
        return p;
    }
    return NULL;
}
#endif

#if LUA_VERSION_NUM < 503
#define lua_isinteger(L, i) 0
#endif

#if LUA_VERSION_NUM < 504
#define dalle_newuserdata(L, size) lua_newuserdata(L, size)
#else
#define dalle_newuserdata(L, size) lua_newuserdatauv(L, size, 0)
#endif

#endif
