package redisbackend

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/videochat/videochat/signal/proto"
)

// luaPrelude is shared by every script. ARGV[1] is always the key prefix.
// Each membership change increments the room's seq counter and publishes a
// membership envelope carrying that number, in the same atomic script, so
// a node can tell which changes a roster it read already contains.
//
// The scripts build key names from their arguments instead of declaring
// them in KEYS, so they need a single Redis server, not Redis Cluster.
const luaPrelude = `
local P = ARGV[1]
local function mkey(room) return P .. 'room:' .. room .. ':members' end
local function skey(room) return P .. 'room:' .. room .. ':seq' end
local function pkey(node) return P .. 'node:' .. node .. ':peers' end
local function akey(node) return P .. 'node:' .. node .. ':alive' end
local function chan(node) return P .. 'node:' .. node end
local function entry(room, id) return cjson.encode({room, id}) end
local function event(kind, room, seq, id, name)
  return cjson.encode({k = kind, r = room, s = seq, p = {id = id, name = name}})
end
-- announce publishes ev once to every node with a member in room, and to extra.
local function announce(room, ev, extra)
  local seen = {}
  if extra then
    seen[extra] = true
    redis.call('PUBLISH', chan(extra), ev)
  end
  for _, v in ipairs(redis.call('HVALS', mkey(room))) do
    local n = cjson.decode(v).node
    if not seen[n] then
      seen[n] = true
      redis.call('PUBLISH', chan(n), ev)
    end
  end
end
-- add registers peer id of node in room and returns its peer-joined event
-- and change number.
local function add(room, id, name, node)
  local seq = redis.call('INCR', skey(room))
  redis.call('PERSIST', skey(room))
  redis.call('HSET', mkey(room), id, cjson.encode({name = name, node = node, seq = seq}))
  redis.call('SADD', pkey(node), entry(room, id))
  return event('j', room, seq, id, name), seq
end
-- remove drops peer id of node from room and returns its peer-left event,
-- or nil when it was not there. An empty room's counter expires after a
-- day, long after any envelope numbered by it has been delivered.
local function remove(room, id, node)
  redis.call('SREM', pkey(node), entry(room, id))
  local v = redis.call('HGET', mkey(room), id)
  if not v then return nil end
  local m = cjson.decode(v)
  if m.node ~= node then return nil end
  redis.call('HDEL', mkey(room), id)
  local seq = redis.call('INCR', skey(room))
  if redis.call('HLEN', mkey(room)) == 0 then
    redis.call('PEXPIRE', skey(room), 86400000)
  end
  return event('l', room, seq, id, m.name)
end
-- dropNode removes every peer of node and announces each departure to the
-- nodes left in its room.
local function dropNode(node)
  local n = 0
  for _, e in ipairs(redis.call('SMEMBERS', pkey(node))) do
    local re = cjson.decode(e)
    local ev = remove(re[1], re[2], node)
    if ev then
      announce(re[1], ev, nil)
      n = n + 1
    end
  end
  redis.call('DEL', pkey(node))
  redis.call('SREM', P .. 'nodes', node)
  return n
end
`

// joinScript admits a peer unless the room is full.
// ARGV: prefix, room, id, name, node, max.
// Returns {-1} when full, {-2} when the id is taken, else {seq, roster}
// where roster is the members hash before the join as a flat list.
var joinScript = redis.NewScript(luaPrelude + `
local room, id, name, node, max = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
if redis.call('HEXISTS', mkey(room), id) == 1 then return {-2} end
if redis.call('HLEN', mkey(room)) >= max then return {-1} end
local roster = redis.call('HGETALL', mkey(room))
local ev, seq = add(room, id, name, node)
announce(room, ev, nil)
return {seq, roster}
`)

// leaveScript removes a peer of this node and announces it, to this node too.
// ARGV: prefix, room, id, node. Returns 1 if the peer was a member, else 0.
var leaveScript = redis.NewScript(luaPrelude + `
local room, id, node = ARGV[2], ARGV[3], ARGV[4]
local ev = remove(room, id, node)
if not ev then return 0 end
announce(room, ev, node)
return 1
`)

// sendScript publishes a directed envelope to the node of its target.
// ARGV: prefix, room, to, envelope. Returns -1 when the target is not in the
// room, else the number of subscribers that received the envelope.
var sendScript = redis.NewScript(luaPrelude + `
local v = redis.call('HGET', mkey(ARGV[2]), ARGV[3])
if not v then return -1 end
return redis.call('PUBLISH', chan(cjson.decode(v).node), ARGV[4])
`)

// broadcastScript publishes an envelope to every other node with a member
// in the room. ARGV: prefix, room, self node, envelope. Returns how many of
// those nodes had no subscriber.
var broadcastScript = redis.NewScript(luaPrelude + `
local seen, missed = {[ARGV[3]] = true}, 0
for _, v in ipairs(redis.call('HVALS', mkey(ARGV[2]))) do
  local n = cjson.decode(v).node
  if not seen[n] then
    seen[n] = true
    if redis.call('PUBLISH', chan(n), ARGV[4]) == 0 then missed = missed + 1 end
  end
end
return missed
`)

// resyncScript makes Redis agree with this node about one room: it removes
// the node's peers that are no longer connected and re-registers those that
// are but went missing (after a Redis restart, or after survivors reaped the
// node), announcing each change. Peers that left while Redis was unreachable
// are announced as gone even if Redis has forgotten them (data lost).
// ARGV: prefix, room, node, number of live peers, then id, name pairs of
// the live peers and then of the departed ones. Returns {seq, roster}.
var resyncScript = redis.NewScript(luaPrelude + `
local room, node, nlive = ARGV[2], ARGV[3], tonumber(ARGV[4])
local first, last = 5, 4 + 2 * nlive
local live, gone = {}, {}
for i = first, last, 2 do live[ARGV[i]] = true end
local function drop(id)
  local ev = remove(room, id, node)
  if ev then
    gone[id] = true
    announce(room, ev, node)
  end
end
for _, e in ipairs(redis.call('SMEMBERS', pkey(node))) do
  local re = cjson.decode(e)
  if re[1] == room and not live[re[2]] then drop(re[2]) end
end
local h = redis.call('HGETALL', mkey(room))
for i = 1, #h, 2 do
  if not live[h[i]] and cjson.decode(h[i + 1]).node == node then drop(h[i]) end
end
for i = first, last, 2 do
  if redis.call('HEXISTS', mkey(room), ARGV[i]) == 0 then
    announce(room, add(room, ARGV[i], ARGV[i + 1], node), nil)
  else
    redis.call('SADD', pkey(node), entry(room, ARGV[i]))
  end
end
for i = last + 1, #ARGV, 2 do
  local id = ARGV[i]
  if not gone[id] and not live[id] and redis.call('HEXISTS', mkey(room), id) == 0 then
    announce(room, event('l', room, redis.call('INCR', skey(room)), id, ARGV[i + 1]), nil)
  end
end
if redis.call('HLEN', mkey(room)) == 0 then redis.call('PEXPIRE', skey(room), 86400000) end
return {tonumber(redis.call('GET', skey(room)) or '0'), redis.call('HGETALL', mkey(room))}
`)

// snapshotScript reads a room's roster and change number atomically.
// ARGV: prefix, room. Returns {seq, roster}.
var snapshotScript = redis.NewScript(luaPrelude + `
return {tonumber(redis.call('GET', skey(ARGV[2])) or '0'), redis.call('HGETALL', mkey(ARGV[2]))}
`)

// reapScript drops every other node whose presence key has expired and
// announces its peers' departure. Only one survivor sees each dead node, as
// the script is atomic. ARGV: prefix, self node. Returns the dropped nodes.
var reapScript = redis.NewScript(luaPrelude + `
local reaped = {}
for _, n in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
  if n ~= ARGV[2] and redis.call('EXISTS', akey(n)) == 0 then
    dropNode(n)
    table.insert(reaped, n)
  end
end
return reaped
`)

// dropSelfScript removes all of this node's peers at a clean shutdown.
// ARGV: prefix, node. Returns how many peers it removed.
var dropSelfScript = redis.NewScript(luaPrelude + `
local n = dropNode(ARGV[2])
redis.call('DEL', akey(ARGV[2]))
return n
`)

// rosterEntry is one member read from a room's hash.
type rosterEntry struct {
	info proto.PeerInfo
	seq  int64
}

// parseRoster turns a flat HGETALL reply into entries in join order.
func parseRoster(v any) ([]rosterEntry, error) {
	flat, ok := v.([]any)
	if !ok || len(flat)%2 != 0 {
		return nil, fmt.Errorf("roster reply is %T", v)
	}
	out := make([]rosterEntry, 0, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		id, _ := flat[i].(string)
		raw, _ := flat[i+1].(string)
		var m member
		if err := json.Unmarshal([]byte(raw), &m); err != nil || id == "" {
			return nil, fmt.Errorf("roster entry %q: bad value %q", id, raw)
		}
		out = append(out, rosterEntry{info: proto.PeerInfo{ID: id, Name: m.Name}, seq: m.Seq})
	}
	slices.SortFunc(out, func(a, b rosterEntry) int { return cmp.Compare(a.seq, b.seq) })
	return out, nil
}

// parseSnapshot reads the {seq, roster} reply of the join and resync scripts.
func parseSnapshot(v any) (int64, []rosterEntry, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return 0, nil, fmt.Errorf("script reply is %T", v)
	}
	seq, ok := arr[0].(int64)
	if !ok {
		return 0, nil, fmt.Errorf("script reply starts with %T", arr[0])
	}
	if len(arr) == 1 {
		return seq, nil, nil
	}
	roster, err := parseRoster(arr[1])
	return seq, roster, err
}
