//go:build memprofile

package main

// Built only with -tags memprofile (newswatch-bench once -memprofile):
// with NEWSWATCH_MEMPROFILE=DIR set, the process samples its heap every
// 20 ms and, whenever the heap reaches a new peak, writes a heap profile
// (live objects as of the last GC, by allocation site) and the runtime's
// memory figures to DIR/<pid>.heap and DIR/<pid>.txt.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

func init() {
	dir := os.Getenv("NEWSWATCH_MEMPROFILE")
	if dir == "" {
		return
	}
	names := []string{
		"/memory/classes/heap/objects:bytes",   // live and not yet collected
		"/gc/heap/live:bytes",                  // live at the last GC
		"/gc/heap/goal:bytes",                  // where the next GC starts
		"/memory/classes/total:bytes",          // all the runtime mapped
		"/memory/classes/heap/released:bytes",  // returned to the OS
		"/memory/classes/heap/stacks:bytes",    // goroutine stacks
		"/memory/classes/metadata/other:bytes", // GC metadata and the rest
	}
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	base := filepath.Join(dir, fmt.Sprint(os.Getpid()))
	go func() {
		var peak, peakLive uint64
		for {
			time.Sleep(20 * time.Millisecond)
			metrics.Read(samples)
			live := samples[1].Value.Uint64()
			peakLive = max(peakLive, live)
			heap := samples[0].Value.Uint64()
			if heap <= peak {
				continue
			}
			peak = heap
			if f, err := os.Create(base + ".heap"); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
			var b []byte
			for i, n := range names {
				b = fmt.Appendf(b, "%-40s %6.1f MB\n", n, float64(samples[i].Value.Uint64())/(1<<20))
			}
			b = fmt.Appendf(b, "%-40s %6.1f MB\n", "peak live heap so far", float64(peakLive)/(1<<20))
			_ = os.WriteFile(base+".txt", b, 0o600)
		}
	}()
}
