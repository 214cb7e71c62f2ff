// Module lb is the launcher of the docker platform's Caddy container; its
// own module, so that its Docker build context holds only it.
module github.com/phoenix-iac/phoenix/lb

go 1.26
