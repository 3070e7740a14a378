//go:build !lean

package main

// leanBuild says which build this is: the full one, stockade-full.
const leanBuild = false
