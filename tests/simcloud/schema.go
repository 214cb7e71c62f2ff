package simcloud

// forceNew lists, per resource type, the input properties whose change the
// real provider can only apply by replacing the resource. They are taken
// from the providers' schemas: the ForceNew attributes of the Terraform AWS
// provider behind pulumi-aws v6 and of the Terraform Docker provider behind
// pulumi-docker v4 (whose containers, networks and volumes cannot be changed
// in place at all, apart from a few runtime settings). "*" means every
// property but those listed in updatable.
var forceNew = map[string][]string{
	"aws:ec2/vpc:Vpc":                                     {"cidrBlock", "instanceTenancy", "ipv4IpamPoolId"},
	"aws:ec2/subnet:Subnet":                               {"vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"},
	"aws:ec2/routeTable:RouteTable":                       {"vpcId"},
	"aws:ec2/routeTableAssociation:RouteTableAssociation": {"subnetId", "gatewayId"},
	"aws:ec2/securityGroup:SecurityGroup":                 {"name", "namePrefix", "vpcId", "description"},
	"aws:lb/loadBalancer:LoadBalancer":                    {"name", "namePrefix", "internal", "loadBalancerType", "customerOwnedIpv4Pool"},
	"aws:lb/listener:Listener":                            {"loadBalancerArn"},
	"aws:lb/listenerRule:ListenerRule":                    {"listenerArn"},
	"aws:lb/targetGroup:TargetGroup":                      {"name", "namePrefix", "port", "protocol", "protocolVersion", "targetType", "vpcId", "ipAddressType"},
	"aws:ecs/cluster:Cluster":                             {"name"},
	"aws:ecs/taskDefinition:TaskDefinition":               {"*"},
	"aws:ecs/service:Service":                             {"name", "cluster", "launchType", "iamRole", "schedulingStrategy", "deploymentController"},
	"aws:ecr/repository:Repository":                       {"name", "encryptionConfigurations"},
	"aws:ecr/lifecyclePolicy:LifecyclePolicy":             {"repository"},
	"aws:cloudwatch/logGroup:LogGroup":                    {"name", "namePrefix"},
	"aws:iam/role:Role":                                   {"name", "namePrefix"},
	"aws:iam/rolePolicy:RolePolicy":                       {"name", "namePrefix", "role"},
	"docker:index/network:Network":                        {"*"},
	"docker:index/volume:Volume":                          {"*"},
	"docker:index/remoteImage:RemoteImage":                {"name", "build", "platform", "pullTriggers", "triggers"},
	"docker:index/registryImage:RegistryImage":            {"name", "triggers", "insecureSkipVerify"},
	"docker:index/container:Container":                    {"*"},
}

// deleteBeforeReplace lists the types whose real provider removes a
// resource before it creates its replacement: pulumi-docker marks
// docker_container so (a container's name and host ports cannot be held
// twice).
var deleteBeforeReplace = map[string]bool{
	"docker:index/container:Container": true,
}

// updatable lists properties of "*" types that the provider does update in place.
var updatable = map[string][]string{
	"aws:ecs/taskDefinition:TaskDefinition": {"tags", "tagsAll", "skipDestroy"},
	"docker:index/container:Container":      {"restart", "memory", "memorySwap", "cpuShares", "maxRetryCount"},
}

// autoNamed lists the types whose provider gives them a physical name
// derived from the logical name plus a random suffix when none is set.
var autoNamed = map[string]bool{
	"aws:ec2/securityGroup:SecurityGroup": true,
	"aws:lb/loadBalancer:LoadBalancer":    true,
	"aws:lb/targetGroup:TargetGroup":      true,
	"aws:ecs/cluster:Cluster":             true,
	"aws:ecs/service:Service":             true,
	"aws:ecr/repository:Repository":       true,
	"aws:cloudwatch/logGroup:LogGroup":    true,
	"aws:iam/role:Role":                   true,
	"aws:iam/rolePolicy:RolePolicy":       true,
	"docker:index/container:Container":    true,
	"docker:index/network:Network":        true,
	"docker:index/volume:Volume":          true,
}

func forcesReplacement(typ, prop string) bool {
	for _, p := range updatable[typ] {
		if p == prop {
			return false
		}
	}
	for _, p := range forceNew[typ] {
		if p == "*" || p == prop {
			return true
		}
	}
	return false
}
