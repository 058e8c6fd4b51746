//! Readers against the AWS CLI's own documented examples (tests/fixtures/aws-cli-examples) and
//! small realistic AWS Config documents.

use std::net::IpAddr;

use super::*;

const GROUPS: &str =
    include_str!("../../tests/fixtures/aws-cli-examples/describe-security-groups.example1.json");
const RULES_1: &str = include_str!(
    "../../tests/fixtures/aws-cli-examples/describe-security-group-rules.example1.json"
);
const RULES_2: &str = include_str!(
    "../../tests/fixtures/aws-cli-examples/describe-security-group-rules.example2.json"
);
const INTERFACES: &str =
    include_str!("../../tests/fixtures/aws-cli-examples/describe-network-interfaces.example1.json");
const FLOW_LOGS: &str =
    include_str!("../../tests/fixtures/aws-cli-examples/describe-flow-logs.example1.json");

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn cidr(text: &str) -> Peer {
    Peer::Cidr(text.parse().unwrap())
}

fn loaded(steps: &[(&str, &str)]) -> Inventory {
    let mut inventory = Inventory::new();
    for (name, text) in steps {
        let result = if name.starts_with("describe-network-interfaces") {
            inventory.add_network_interfaces(name, text)
        } else if name.starts_with("config") {
            inventory.add_config_items(name, text)
        } else {
            inventory.add_security_groups(name, text)
        };
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    inventory
}

fn error_of(result: Result<(), InventoryError>) -> String {
    match result {
        Ok(()) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn describe_security_groups_example() {
    let inv = loaded(&[("describe-security-groups.example1.json", GROUPS)]);
    assert_eq!(inv.groups.len(), 1);
    let g = &inv.groups["sg-903004f8"];
    assert_eq!(g.group_name.as_deref(), Some("MySecurityGroup"));
    assert_eq!(g.vpc_id.as_deref(), Some("vpc-1a2b3c4d"));
    assert_eq!(g.rules.len(), 3);
    let inbound: Vec<&Rule> = g.rules.iter().filter(|r| !r.egress).collect();
    assert_eq!(inbound.len(), 2);
    // -1 with a self-referencing group pair: everything from members of the group itself.
    assert_eq!(inbound[0].protocol, IpProtocol::All);
    assert_eq!(inbound[0].ports, Ports::All);
    assert_eq!(
        inbound[0].peer,
        Peer::Group {
            group_id: "sg-903004f8".to_owned(),
            user_id: Some("123456789012".to_owned())
        }
    );
    assert_eq!(inbound[1].protocol, IpProtocol::Number(6));
    assert_eq!(inbound[1].ports, Ports::Range { from: 22, to: 22 });
    assert_eq!(inbound[1].peer, cidr("203.0.113.0/24"));
    assert_eq!(
        inbound[1].description.as_deref(),
        Some("Access from NY office")
    );
    let outbound = &g.rules[2];
    assert!(outbound.egress);
    assert_eq!(outbound.protocol, IpProtocol::All);
    assert_eq!(outbound.peer, cidr("0.0.0.0/0"));
    assert!(
        g.rules
            .iter()
            .all(|r| r.rule_id.is_none() && r.group_id == "sg-903004f8")
    );
    // SSH from the office, not from elsewhere; the self-reference cannot be judged by address.
    assert_eq!(
        inbound[1].matches(6, Some(22), ip("203.0.113.9")),
        Some(true)
    );
    assert_eq!(
        inbound[1].matches(6, Some(22), ip("198.51.100.1")),
        Some(false)
    );
    assert_eq!(inbound[0].matches(6, Some(22), ip("10.0.0.1")), None);
}

#[test]
fn describe_security_group_rules_example() {
    let inv = loaded(&[("describe-security-group-rules.example1.json", RULES_1)]);
    let g = &inv.groups["sg-1234567890abcdef0"];
    assert_eq!(g.group_name, None);
    assert_eq!(g.rules.len(), 3);
    let ids: Vec<&str> = g
        .rules
        .iter()
        .filter_map(|r| r.rule_id.as_deref())
        .collect();
    assert_eq!(
        ids,
        [
            "sgr-abcdef01234567890",
            "sgr-bcdef01234567890a",
            "sgr-cdef01234567890ab"
        ]
    );
    assert!(!g.rules[0].egress);
    assert_eq!(g.rules[0].protocol, IpProtocol::All);
    assert_eq!(
        g.rules[0].peer,
        Peer::Group {
            group_id: "sg-1234567890abcdef0".to_owned(),
            user_id: Some("111122223333".to_owned())
        }
    );
    assert!(g.rules[1].egress);
    assert_eq!(g.rules[1].peer, cidr("::/0"));
    assert_eq!(g.rules[2].peer, cidr("0.0.0.0/0"));
    assert_eq!(
        g.rules[1].matches(6, Some(443), ip("2001:db8::5")),
        Some(true)
    );
    assert_eq!(
        g.rules[1].matches(6, Some(443), ip("192.0.2.5")),
        Some(false)
    );
}

#[test]
fn rule_pages_merge_by_rule_id() {
    // Example 2 repeats one rule of example 1: read page by page, it is kept once.
    let inv = loaded(&[
        ("describe-security-group-rules.example1.json", RULES_1),
        ("describe-security-group-rules.example2.json", RULES_2),
    ]);
    assert_eq!(inv.groups["sg-1234567890abcdef0"].rules.len(), 3);
    let inv = loaded(&[("describe-security-group-rules.example2.json", RULES_2)]);
    assert_eq!(inv.groups["sg-1234567890abcdef0"].rules.len(), 1);
}

const GROUP_1234: &str = r#"{"SecurityGroups": [{
    "GroupId": "sg-1234567890abcdef0", "GroupName": "web", "VpcId": "vpc-0a1b",
    "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
    "IpPermissionsEgress": []}]}"#;

#[test]
fn rules_output_replaces_described_rules_in_either_order() {
    for order in [[0, 1], [1, 0]] {
        let inputs = [("groups.json", GROUP_1234), ("rules.json", RULES_1)];
        let inv = loaded(&[inputs[order[0]], inputs[order[1]]]);
        let g = &inv.groups["sg-1234567890abcdef0"];
        assert_eq!(g.rules.len(), 3, "order {order:?}");
        assert!(g.rules.iter().all(|r| r.rule_id.is_some()));
        assert_eq!(g.group_name.as_deref(), Some("web"));
        assert_eq!(g.vpc_id.as_deref(), Some("vpc-0a1b"));
    }
    // Alone, the describe output's one permission with two ranges is two rules.
    let inv = loaded(&[("groups.json", GROUP_1234)]);
    let rules = &inv.groups["sg-1234567890abcdef0"].rules;
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].peer, cidr("0.0.0.0/0"));
    assert_eq!(rules[1].peer, cidr("::/0"));
    assert!(
        rules
            .iter()
            .all(|r| r.ports == Ports::Range { from: 443, to: 443 })
    );
}

#[test]
fn permissions_expand_and_read_every_peer_kind() {
    let text = r#"{"SecurityGroups": [{"GroupId": "sg-1", "Unknown": {"x": [1]},
        "IpPermissions": [
          {"IpProtocol": "udp", "FromPort": 1000, "ToPort": 2000,
           "IpRanges": [{"CidrIp": "10.0.0.0/16"}, {"CidrIp": "10.1.0.7/16", "Description": "odd"}],
           "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/56"}],
           "PrefixListIds": [{"PrefixListId": "pl-63a5400a", "Description": "s3"}],
           "UserIdGroupPairs": [{"GroupId": "sg-2"}]},
          {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
          {"IpProtocol": "icmpv6", "IpRanges": [], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
          {"IpProtocol": "47", "FromPort": 5, "ToPort": 9, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
          {"IpProtocol": "tcp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]},
          {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
        ]}]}"#;
    let inv = loaded(&[("sg.json", text)]);
    let rules = &inv.groups["sg-1"].rules;
    assert_eq!(rules.len(), 9);
    assert!(rules[..5].iter().all(|r| r.ports
        == Ports::Range {
            from: 1000,
            to: 2000
        }));
    // AWS canonicalizes blocks; a non-canonical one is read as its network.
    assert_eq!(rules[1].peer, cidr("10.1.0.0/16"));
    assert_eq!(rules[1].description.as_deref(), Some("odd"));
    assert_eq!(rules[2].peer, cidr("2001:db8::/56"));
    assert_eq!(rules[3].peer, Peer::PrefixList("pl-63a5400a".to_owned()));
    assert_eq!(
        rules[4].peer,
        Peer::Group {
            group_id: "sg-2".to_owned(),
            user_id: None
        }
    );
    assert_eq!(
        rules[5].ports,
        Ports::Icmp {
            icmp_type: Some(8),
            code: None
        }
    );
    // icmpv6 without ports: all types and codes.
    assert_eq!(
        rules[6].ports,
        Ports::Icmp {
            icmp_type: None,
            code: None
        }
    );
    // GRE with ports given: AWS ignores them.
    assert_eq!(rules[7].protocol, IpProtocol::Number(47));
    assert_eq!(rules[7].ports, Ports::All);
    assert_eq!(rules[8].ports, Ports::All);
    assert_eq!(rules[8].port_count(), Some(65536));
}

#[test]
fn describe_network_interfaces_example() {
    let inv = loaded(&[("describe-network-interfaces.example1.json", INTERFACES)]);
    assert_eq!(inv.interfaces.len(), 2);
    let a = &inv.interfaces["eni-e5aa89a3"];
    assert_eq!(a.private_addresses, [ip("10.0.1.17")]);
    assert_eq!(a.public_address, Some(ip("203.0.113.12")));
    assert_eq!(a.group_ids, ["sg-8637d3e3"]);
    assert_eq!(a.vpc_id.as_deref(), Some("vpc-a01106c2"));
    assert_eq!(a.subnet_id.as_deref(), Some("subnet-b61f49f0"));
    assert_eq!(a.description.as_deref(), Some("my network interface"));
    assert_eq!(a.instance_id.as_deref(), Some("i-1234567890abcdef0"));
    assert_eq!(a.interface_type, None);
    assert!(!a.requester_managed);
    assert!(!a.deleted);
    let b = &inv.interfaces["eni-f9ba99bf"];
    assert_eq!(b.private_addresses, [ip("10.0.1.149")]);
    assert_eq!(b.public_address, Some(ip("198.51.100.0")));
    assert_eq!(b.instance_id.as_deref(), Some("i-0598c7d356eba48d7"));
    assert_eq!(b.description.as_deref(), Some("Primary network interface"));

    assert_eq!(
        inv.interface_by_address(ip("10.0.1.149"))
            .map(|i| i.interface_id.as_str()),
        Some("eni-f9ba99bf")
    );
    assert_eq!(
        inv.interface_by_address(ip("203.0.113.12"))
            .map(|i| i.interface_id.as_str()),
        Some("eni-e5aa89a3")
    );
    assert!(inv.interface_by_address(ip("10.0.1.18")).is_none());
    let index = inv.address_index();
    assert_eq!(index.len(), 4);
    assert_eq!(index[&ip("10.0.1.17")].interface_id, "eni-e5aa89a3");
}

#[test]
fn addresses_come_primary_secondary_then_ipv6() {
    let text = r#"{"NetworkInterfaces": [{
        "NetworkInterfaceId": "eni-0abc", "InterfaceType": "nat_gateway", "Description": "",
        "RequesterManaged": true, "PrivateIpAddress": "10.0.0.20",
        "PrivateIpAddresses": [
          {"PrivateIpAddress": "10.0.0.30", "Primary": false},
          {"PrivateIpAddress": "10.0.0.20", "Primary": true,
           "Association": {"PublicIp": "198.51.100.7"}},
          {"PrivateIpAddress": "10.0.0.31"}],
        "Ipv6Addresses": [{"Ipv6Address": "2001:db8::20"}],
        "Groups": [{"GroupId": "sg-a"}, {"GroupId": "sg-b"}]}]}"#;
    let inv = loaded(&[("describe-network-interfaces.json", text)]);
    let i = &inv.interfaces["eni-0abc"];
    assert_eq!(
        i.private_addresses,
        [
            ip("10.0.0.20"),
            ip("10.0.0.30"),
            ip("10.0.0.31"),
            ip("2001:db8::20")
        ]
    );
    // No top-level Association: the primary address's one.
    assert_eq!(i.public_address, Some(ip("198.51.100.7")));
    assert!(i.requester_managed);
    assert_eq!(i.interface_type.as_deref(), Some("nat_gateway"));
    assert_eq!(i.description, None);
    assert_eq!(i.group_ids, ["sg-a", "sg-b"]);
}

#[test]
fn groups_of_an_interface() {
    let groups = r#"{"SecurityGroups": [{"GroupId": "sg-8637d3e3", "GroupName": "default",
        "IpPermissions": [], "IpPermissionsEgress": []}]}"#;
    let inv = loaded(&[
        ("describe-network-interfaces.example1.json", INTERFACES),
        ("groups.json", groups),
        ("describe-security-groups.example1.json", GROUPS),
    ]);
    let ids: Vec<&str> = inv
        .groups_of("eni-e5aa89a3")
        .iter()
        .map(|g| g.group_id.as_str())
        .collect();
    assert_eq!(ids, ["sg-8637d3e3"]);
    assert!(inv.groups_of("eni-unknown").is_empty());
    // Groups the inventory lacks are left out rather than invented.
    let inv = loaded(&[("describe-network-interfaces.example1.json", INTERFACES)]);
    assert!(inv.groups_of("eni-e5aa89a3").is_empty());
}

#[test]
fn wrong_document_names_file_and_expected_input() {
    let mut inv = Inventory::new();
    let msg =
        error_of(inv.add_security_groups("describe-network-interfaces.example1.json", INTERFACES));
    assert!(
        msg.starts_with("describe-network-interfaces.example1.json: "),
        "{msg}"
    );
    assert!(
        msg.contains("`aws ec2 describe-network-interfaces`"),
        "{msg}"
    );
    assert!(
        msg.contains("expected the output of `aws ec2 describe-security-groups`"),
        "{msg}"
    );
    assert!(msg.contains("describe-security-group-rules"), "{msg}");

    let msg = error_of(inv.add_network_interfaces("sg.json", GROUPS));
    assert!(msg.starts_with("sg.json: "), "{msg}");
    assert!(
        msg.contains("looks like the output of `aws ec2 describe-security-groups`"),
        "{msg}"
    );
    assert!(
        msg.contains("expected the output of `aws ec2 describe-network-interfaces`"),
        "{msg}"
    );

    for add in [
        Inventory::add_security_groups,
        Inventory::add_network_interfaces,
        Inventory::add_config_items,
    ] {
        let msg = error_of(add(&mut inv, "flow-logs.json", FLOW_LOGS));
        assert!(msg.contains("`aws ec2 describe-flow-logs`"), "{msg}");
        let msg = error_of(add(&mut inv, "empty.json", ""));
        assert!(msg.starts_with("empty.json: not valid JSON"), "{msg}");
        let msg = error_of(add(&mut inv, "list.json", "[1]"));
        assert!(msg.starts_with("list.json: "), "{msg}");
    }
    let msg = error_of(inv.add_config_items("eni.json", INTERFACES));
    assert!(msg.contains("get-resource-config-history"), "{msg}");
    assert!(inv.groups.is_empty() && inv.interfaces.is_empty());
}

#[test]
fn bad_values_name_their_json_path() {
    let mut inv = Inventory::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [
               {"IpProtocol": "tcp", "FromPort": "22", "ToPort": 22}]}]}"#,
            "SecurityGroups[0].IpPermissions[0].FromPort: expected an integer, found the string \"22\"",
            "`aws ec2 describe-security-groups`",
        ),
        (
            r#"{"SecurityGroups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2", "IpPermissions": [],
               "IpPermissionsEgress": [{"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80}]}]}"#,
            "SecurityGroups[1].IpPermissionsEgress[0].FromPort: expected a port range",
            "describe-security-groups",
        ),
        (
            r#"{"SecurityGroups": [{"IpPermissions": []}]}"#,
            "SecurityGroups[0].GroupId: missing",
            "describe-security-groups",
        ),
        (
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [
               {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "2001:db8::/32"}]}]}]}"#,
            "SecurityGroups[0].IpPermissions[0].IpRanges[0].CidrIp: expected an IPv4 CIDR block",
            "describe-security-groups",
        ),
        (
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [{"IpProtocol": "gre"}]}]}"#,
            "SecurityGroups[0].IpPermissions[0].IpProtocol: expected -1, tcp",
            "describe-security-groups",
        ),
        (
            r#"{"SecurityGroups": {"GroupId": "sg-1"}}"#,
            "SecurityGroups: expected an array, found an object",
            "describe-security-groups",
        ),
        (
            r#"{"SecurityGroupRules": [{"GroupId": "sg-1", "IsEgress": false, "IpProtocol": "-1"}]}"#,
            "SecurityGroupRules[0]: expected exactly one of CidrIpv4",
            "`aws ec2 describe-security-group-rules`",
        ),
        (
            r#"{"SecurityGroupRules": [{"GroupId": "sg-1", "IsEgress": "no", "IpProtocol": "-1",
               "CidrIpv4": "0.0.0.0/0"}]}"#,
            "SecurityGroupRules[0].IsEgress: expected true or false",
            "describe-security-group-rules",
        ),
        (
            r#"{"SecurityGroupRules": [{"GroupId": "sg-1", "IsEgress": true, "IpProtocol": "icmp",
               "FromPort": 300, "ToPort": -1, "CidrIpv4": "0.0.0.0/0"}]}"#,
            "SecurityGroupRules[0].FromPort: expected an ICMP type or code 0-255",
            "describe-security-group-rules",
        ),
    ];
    for (text, path_and_problem, input) in cases {
        let msg = error_of(inv.add_security_groups("sg.json", text));
        assert!(
            msg.starts_with(&format!("sg.json: {path_and_problem}")),
            "{msg}"
        );
        assert!(msg.contains(input), "{msg}");
    }
    let eni = r#"{"NetworkInterfaces": [{"NetworkInterfaceId": "eni-1",
        "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.300"}]}]}"#;
    let msg = error_of(inv.add_network_interfaces("eni.json", eni));
    assert!(
        msg.starts_with("eni.json: NetworkInterfaces[0].PrivateIpAddresses[0].PrivateIpAddress: expected an IP address, found \"10.0.0.300\""),
        "{msg}"
    );
    // A failed read changes nothing, even after earlier valid entries in the same file.
    assert!(inv.groups.is_empty() && inv.interfaces.is_empty());
}

#[test]
fn error_accessors() {
    let mut inv = Inventory::new();
    let text = r#"{"SecurityGroups": [{"GroupId": 7}]}"#;
    match inv.add_security_groups("sg.json", text) {
        Err(e) => {
            assert_eq!(e.file(), "sg.json");
            assert_eq!(e.path(), Some("SecurityGroups[0].GroupId"));
        }
        Ok(()) => panic!("expected an error"),
    }
}

// --- AWS Config -------------------------------------------------------------------------------

/// `aws configservice get-resource-config-history --resource-type AWS::EC2::NetworkInterface
/// --resource-id eni-0deleted1` (AWS CLI v2; newest first, as the API returns them): the
/// interface was deleted after its last recorded configuration.
const CONFIG_HISTORY: &str = r#"{
  "configurationItems": [
    {
      "version": "1.3",
      "accountId": "123456789012",
      "configurationItemCaptureTime": "2024-03-02T09:15:00.120000+01:00",
      "configurationItemStatus": "ResourceDeleted",
      "configurationStateId": "1709367300120",
      "arn": "arn:aws:ec2:eu-west-1:123456789012:network-interface/eni-0deleted1",
      "resourceType": "AWS::EC2::NetworkInterface",
      "resourceId": "eni-0deleted1",
      "awsRegion": "eu-west-1",
      "availabilityZone": "eu-west-1a",
      "tags": {},
      "relatedEvents": [],
      "relationships": [],
      "configuration": "null",
      "supplementaryConfiguration": {}
    },
    {
      "version": "1.3",
      "accountId": "123456789012",
      "configurationItemCaptureTime": "2024-03-01T18:00:00.500000+01:00",
      "configurationItemStatus": "ResourceDiscovered",
      "configurationStateId": "1709312400500",
      "resourceType": "AWS::EC2::NetworkInterface",
      "resourceId": "eni-0deleted1",
      "relationships": [{"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-0web", "relationshipName": "Is associated with SecurityGroup"}],
      "configuration": "{\"attachment\":{\"attachTime\":\"2024-03-01T17:00:00.000Z\",\"attachmentId\":\"eni-attach-0a\",\"deleteOnTermination\":true,\"deviceIndex\":0,\"instanceId\":\"i-0ephemeral\",\"instanceOwnerId\":\"123456789012\",\"status\":\"attached\"},\"availabilityZone\":\"eu-west-1a\",\"description\":\"\",\"groups\":[{\"groupName\":\"web\",\"groupId\":\"sg-0web\"}],\"interfaceType\":\"interface\",\"ipv6Addresses\":[],\"macAddress\":\"0a:1b:2c:3d:4e:5f\",\"networkInterfaceId\":\"eni-0deleted1\",\"ownerId\":\"123456789012\",\"privateDnsName\":\"ip-10-0-1-44.eu-west-1.compute.internal\",\"privateIpAddress\":\"10.0.1.44\",\"privateIpAddresses\":[{\"primary\":true,\"privateDnsName\":\"ip-10-0-1-44.eu-west-1.compute.internal\",\"privateIpAddress\":\"10.0.1.44\"},{\"primary\":false,\"privateIpAddress\":\"10.0.1.45\"}],\"requesterManaged\":false,\"sourceDestCheck\":true,\"status\":\"in-use\",\"subnetId\":\"subnet-0a\",\"tagSet\":[],\"vpcId\":\"vpc-0a\"}",
      "supplementaryConfiguration": {}
    }
  ]
}"#;

/// `aws configservice select-resource-config --expression "SELECT resourceType, resourceId,
/// configurationItemCaptureTime, configurationItemStatus, configuration WHERE resourceType IN
/// ('AWS::EC2::SecurityGroup', 'AWS::EC2::NetworkInterface')"`: each result is a JSON string.
const CONFIG_SELECT: &str = r#"{
  "Results": [
    "{\"resourceId\":\"sg-0web\",\"resourceType\":\"AWS::EC2::SecurityGroup\",\"configurationItemCaptureTime\":\"2024-03-01T12:00:00.000Z\",\"configurationItemStatus\":\"OK\",\"configuration\":{\"description\":\"web\",\"groupName\":\"web\",\"ipPermissions\":[{\"fromPort\":443,\"ipProtocol\":\"tcp\",\"ipv6Ranges\":[],\"prefixListIds\":[],\"toPort\":443,\"userIdGroupPairs\":[],\"ipv4Ranges\":[{\"cidrIp\":\"0.0.0.0/0\",\"description\":\"https\"}],\"ipRanges\":[\"0.0.0.0/0\"]},{\"ipProtocol\":\"-1\",\"ipv6Ranges\":[],\"prefixListIds\":[],\"userIdGroupPairs\":[{\"groupId\":\"sg-0web\",\"userId\":\"123456789012\"}],\"ipv4Ranges\":[],\"ipRanges\":[]}],\"ownerId\":\"123456789012\",\"groupId\":\"sg-0web\",\"ipPermissionsEgress\":[{\"ipProtocol\":\"-1\",\"ipv6Ranges\":[{\"cidrIpv6\":\"::/0\"}],\"prefixListIds\":[],\"userIdGroupPairs\":[],\"ipv4Ranges\":[{\"cidrIp\":\"0.0.0.0/0\"}],\"ipRanges\":[\"0.0.0.0/0\"]}],\"tags\":[],\"vpcId\":\"vpc-0a\"}}",
    "{\"resourceId\":\"eni-0lb\",\"resourceType\":\"AWS::EC2::NetworkInterface\",\"configurationItemCaptureTime\":\"2024-03-01T12:00:00.000Z\",\"configurationItemStatus\":\"OK\",\"configuration\":{\"association\":{\"ipOwnerId\":\"amazon\",\"publicIp\":\"198.51.100.20\"},\"description\":\"ELB app/web/50dc6c495c0c9188\",\"groups\":[{\"groupId\":\"sg-0web\",\"groupName\":\"web\"}],\"interfaceType\":\"interface\",\"ipv6Addresses\":[{\"ipv6Address\":\"2001:db8:1::20\"}],\"networkInterfaceId\":\"eni-0lb\",\"privateIpAddress\":\"10.0.0.20\",\"privateIpAddresses\":[{\"primary\":true,\"privateIpAddress\":\"10.0.0.20\"}],\"requesterManaged\":true,\"subnetId\":\"subnet-0b\",\"vpcId\":\"vpc-0a\"}}",
    "{\"resourceId\":\"vpc-0a\",\"resourceType\":\"AWS::EC2::VPC\",\"configuration\":{\"cidrBlock\":\"10.0.0.0/16\"}}"
  ],
  "QueryInfo": {"SelectFields": [{"Name": "resourceId"}, {"Name": "resourceType"}]}
}"#;

#[test]
fn config_history_keeps_addresses_of_a_deleted_interface() {
    let inv = loaded(&[("config-history.json", CONFIG_HISTORY)]);
    let i = &inv.interfaces["eni-0deleted1"];
    assert!(i.deleted);
    assert_eq!(i.private_addresses, [ip("10.0.1.44"), ip("10.0.1.45")]);
    assert_eq!(i.group_ids, ["sg-0web"]);
    assert_eq!(i.instance_id.as_deref(), Some("i-0ephemeral"));
    assert_eq!(i.subnet_id.as_deref(), Some("subnet-0a"));
    assert_eq!(i.description, None);
    assert_eq!(
        inv.interface_by_address(ip("10.0.1.45"))
            .map(|i| i.interface_id.as_str()),
        Some("eni-0deleted1")
    );
}

#[test]
fn config_select_results_hold_groups_and_interfaces() {
    let inv = loaded(&[("config-select.json", CONFIG_SELECT)]);
    assert_eq!(inv.interfaces.len(), 1);
    let lb = &inv.interfaces["eni-0lb"];
    assert!(!lb.deleted && lb.requester_managed);
    assert_eq!(
        lb.private_addresses,
        [ip("10.0.0.20"), ip("2001:db8:1::20")]
    );
    assert_eq!(lb.public_address, Some(ip("198.51.100.20")));
    assert_eq!(
        lb.description.as_deref(),
        Some("ELB app/web/50dc6c495c0c9188")
    );

    let g = &inv.groups["sg-0web"];
    assert_eq!(g.group_name.as_deref(), Some("web"));
    assert_eq!(g.vpc_id.as_deref(), Some("vpc-0a"));
    // ipv4Ranges and ipRanges repeat each other: one rule per block, not two.
    let summary: Vec<(bool, String, String)> = g
        .rules
        .iter()
        .map(|r| (r.egress, r.protocol.to_string(), r.peer.to_string()))
        .collect();
    let expect = |e: bool, p: &str, peer: &str| (e, p.to_owned(), peer.to_owned());
    assert_eq!(
        summary,
        [
            expect(false, "tcp", "0.0.0.0/0"),
            expect(false, "all", "sg-0web"),
            expect(true, "all", "0.0.0.0/0"),
            expect(true, "all", "::/0"),
        ]
    );
    assert_eq!(g.rules[0].description.as_deref(), Some("https"));
    assert_eq!(g.rules[0].ports, Ports::Range { from: 443, to: 443 });
    let ids: Vec<&str> = inv
        .groups_of("eni-0lb")
        .iter()
        .map(|g| g.group_id.as_str())
        .collect();
    assert_eq!(ids, ["sg-0web"]);
}

#[test]
fn live_describe_output_wins_over_config_in_either_order() {
    let live_eni = r#"{"NetworkInterfaces": [{"NetworkInterfaceId": "eni-0lb",
        "PrivateIpAddress": "10.0.0.99", "Groups": []}]}"#;
    let live_sg = r#"{"SecurityGroups": [{"GroupId": "sg-0web", "GroupName": "web-now",
        "IpPermissions": [], "IpPermissionsEgress": []}]}"#;
    for config_first in [true, false] {
        let mut steps = vec![
            ("describe-network-interfaces.json", live_eni),
            ("describe-security-groups.json", live_sg),
        ];
        let config = ("config-select.json", CONFIG_SELECT);
        if config_first {
            steps.insert(0, config);
        } else {
            steps.push(config);
        }
        let inv = loaded(&steps);
        assert_eq!(
            inv.interfaces["eni-0lb"].private_addresses,
            [ip("10.0.0.99")]
        );
        assert_eq!(inv.groups["sg-0web"].group_name.as_deref(), Some("web-now"));
        assert!(inv.groups["sg-0web"].rules.is_empty());
    }
}

/// A bare array of items (as `jq '.configurationItems'` leaves them), oldest last in the input
/// but ordered by capture time; the times use both the `Z` and the CLI v1 epoch forms.
#[test]
fn config_latest_item_wins_by_capture_time_then_input_order() {
    let items = r#"[
      {"resourceType": "AWS::EC2::NetworkInterface", "resourceId": "eni-1",
       "configurationItemCaptureTime": 1709380800.0, "configurationItemStatus": "OK",
       "configuration": {"networkInterfaceId": "eni-1", "privateIpAddress": "10.0.0.2"}},
      {"resourceType": "AWS::EC2::NetworkInterface", "resourceId": "eni-1",
       "configurationItemCaptureTime": "2024-03-01T00:00:00Z", "configurationItemStatus": "ResourceDiscovered",
       "configuration": {"networkInterfaceId": "eni-1", "privateIpAddress": "10.0.0.1"}},
      {"resourceType": "AWS::EC2::NetworkInterface", "resourceId": "eni-2",
       "configuration": {"privateIpAddress": "10.0.0.3"}},
      {"resourceType": "AWS::EC2::NetworkInterface", "resourceId": "eni-2",
       "configuration": {"privateIpAddress": "10.0.0.4"}},
      {"resourceType": "AWS::S3::Bucket", "resourceId": "my-bucket", "configuration": {"name": "x"}}
    ]"#;
    let inv = loaded(&[("config-items.json", items)]);
    // 1709380800 is 2024-03-02T12:00:00Z: newer than the item after it.
    assert_eq!(inv.interfaces["eni-1"].private_addresses, [ip("10.0.0.2")]);
    // No times: the later item wins, and the resourceId names the interface.
    assert_eq!(inv.interfaces["eni-2"].private_addresses, [ip("10.0.0.4")]);
    assert_eq!(inv.interfaces["eni-2"].interface_id, "eni-2");
    assert_eq!(inv.interfaces.len(), 2);

    // A deletion read in a later call, older than the configuration, does not delete it.
    let mut inv = inv;
    let old_deletion = r#"{"configurationItem": {"resourceType": "AWS::EC2::NetworkInterface",
        "resourceId": "eni-1", "configurationItemCaptureTime": "2024-03-02T11:00:00Z",
        "configurationItemStatus": "ResourceDeleted", "configuration": null}}"#;
    if let Err(e) = inv.add_config_items("config-event.json", old_deletion) {
        panic!("{e}");
    }
    assert!(!inv.interfaces["eni-1"].deleted);
    let new_deletion = old_deletion.replace("11:00:00Z", "13:00:00Z");
    if let Err(e) = inv.add_config_items("config-event.json", &new_deletion) {
        panic!("{e}");
    }
    assert!(inv.interfaces["eni-1"].deleted);
    assert_eq!(inv.interfaces["eni-1"].private_addresses, [ip("10.0.0.2")]);
}

#[test]
fn config_deletion_without_history_and_live_address_reuse() {
    let deleted = r#"[{"resourceType": "AWS::EC2::NetworkInterface", "resourceId": "eni-gone",
        "configurationItemStatus": "ResourceDeleted", "configuration": {}},
      {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-gone",
        "configurationItemStatus": "ResourceDeleted"},
      {"resourceType": "AWS::EC2::NetworkInterface", "resourceId": "eni-old",
        "configurationItemStatus": "ResourceDeleted",
        "configuration": {"networkInterfaceId": "eni-old", "privateIpAddress": "10.0.1.17"}}]"#;
    let inv = loaded(&[
        ("config-deleted.json", deleted),
        ("describe-network-interfaces.example1.json", INTERFACES),
    ]);
    let gone = &inv.interfaces["eni-gone"];
    assert!(gone.deleted && gone.private_addresses.is_empty());
    assert!(!inv.groups.contains_key("sg-gone"));
    // 10.0.1.17 was eni-old's and is now eni-e5aa89a3's: the live interface answers.
    assert_eq!(
        inv.interface_by_address(ip("10.0.1.17"))
            .map(|i| i.interface_id.as_str()),
        Some("eni-e5aa89a3")
    );
    assert_eq!(
        inv.address_index()[&ip("10.0.1.17")].interface_id,
        "eni-e5aa89a3"
    );
}

#[test]
fn config_errors_name_file_and_path() {
    let mut inv = Inventory::new();
    let cases: &[(&str, &str)] = &[
        (
            r#"{"Results": ["{\"resourceId\": \"eni-1\", \"configuration\": {}}"]}"#,
            "c.json: Results[0]: missing resourceType; a select-resource-config query must select",
        ),
        (
            r#"{"Results": ["{not json"]}"#,
            "c.json: Results[0]: expected a configuration item as JSON text",
        ),
        (
            r#"{"configurationItems": [{"resourceType": "AWS::EC2::NetworkInterface",
                "resourceId": "eni-1", "configuration": "{\"privateIpAddresses\": [{\"privateIpAddress\": 10}]}"}]}"#,
            "c.json: configurationItems[0].configuration.privateIpAddresses[0].privateIpAddress: expected a string, found the number 10",
        ),
        (
            r#"{"configurationItems": [{"resourceType": "AWS::EC2::SecurityGroup",
                "resourceId": "sg-1", "configurationItemCaptureTime": "last tuesday",
                "configuration": {"groupId": "sg-1"}}]}"#,
            "c.json: configurationItems[0].configurationItemCaptureTime: expected a time",
        ),
        (
            r#"[{"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-1",
                "configuration": {"ipPermissions": [{"ipProtocol": "tcp", "fromPort": 1,
                "toPort": 2, "ipRanges": ["10.0.0.0/33"]}]}}]"#,
            "c.json: [0].configuration.ipPermissions[0].ipRanges[0]: expected an IPv4 CIDR block",
        ),
    ];
    for (text, start) in cases {
        let msg = error_of(inv.add_config_items("c.json", text));
        assert!(msg.starts_with(start), "{msg}");
        assert!(msg.contains("AWS Config configuration items"), "{msg}");
    }
    assert!(inv.groups.is_empty() && inv.interfaces.is_empty());
}
