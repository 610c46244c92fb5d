package vtest

// Env returns a getenv (os.Getenv's shape) that knows only the given
// key/value pairs, for the view's choices driven by the environment
// (terminal graphics mode, SDL video driver).
func Env(kv ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1]
			}
		}
		return ""
	}
}
