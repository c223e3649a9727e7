package proxy

import "sync"

// bufferPool recycles the 32 KiB buffers httputil.ReverseProxy copies
// response bodies through; without it every response allocates one.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
