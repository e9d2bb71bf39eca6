package httpadapter

import "crypto/rand"

func randomKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
