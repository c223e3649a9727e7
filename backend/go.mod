module github.com/lblab/lblab/backend

go 1.26.0

toolchain go1.26.11

require (
	github.com/gorilla/websocket v1.5.3
	github.com/lblab/lblab/testkit v0.0.0
	github.com/stretchr/testify v1.12.1
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

replace github.com/lblab/lblab/testkit => ../testkit
