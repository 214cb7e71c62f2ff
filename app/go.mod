// Module app is the sample service; it has its own module so that its Docker
// build context holds nothing but the service.
module github.com/phoenix-iac/phoenix/app

go 1.26
