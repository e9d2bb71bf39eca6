//go:build !vips

package main

import "errors"

const vipsAvailable = false

func vipsInit() error { return errors.New("built without the vips tag") }

func vipsRenditions([]byte, int, int, int, []int, int) ([][]byte, error) {
	return nil, errors.New("built without the vips tag")
}
