module github.com/profilephoto/photo/bench

go 1.25.0

require (
	github.com/anthonynsimon/bild v0.14.0
	github.com/disintegration/imaging v1.6.2
	github.com/profilephoto/photo v0.0.0
	github.com/spf13/afero v1.15.0
)

require (
	github.com/ebitengine/purego v0.8.3 // indirect
	github.com/gabriel-vasile/mimetype v1.4.16 // indirect
	github.com/gen2brain/avif v0.4.4 // indirect
	github.com/gen2brain/heic v0.4.5 // indirect
	github.com/gen2brain/webp v0.5.5 // indirect
	github.com/tetratelabs/wazero v1.9.0 // indirect
	golang.org/x/image v0.45.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

replace github.com/profilephoto/photo => ../
