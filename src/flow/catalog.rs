//! The static catalog of every flow-log field flowsift knows.
//!
//! This module owns one table, [`FIELDS`]: for each field of an AWS VPC flow
//! log record (versions 2 to 11) and of a transit gateway flow log record, the
//! name used in a `LogFormat` and in S3 header lines (`account-id`), the name
//! CloudWatch Logs Insights uses (`accountId`), the JSON/Parquet column name
//! (`account_id`), whether the text is an integer, the version that
//! introduced the field, and a one-line description. It does no I/O and holds
//! no state; parsers, query builders and the CLI look fields up here.
//!
//! # Where the table comes from
//!
//! * VPC fields, versions, Parquet types, descriptions: Amazon VPC User Guide,
//!   "Flow log records" / "Available fields",
//!   <https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html>.
//!   Versions 2 to 5 (names, versions, Parquet types, the `action`,
//!   `log-status`, `tcp-flags` and `traffic-path` value lists) were read from
//!   that table (and its earlier copy in
//!   <https://github.com/awsdocs/amazon-vpc-user-guide>, `doc_source/flow-logs.md`).
//! * ECS fields (version 7): the same page and the AWS announcement
//!   <https://aws.amazon.com/about-aws/whats-new/2024/05/amazon-vpc-flow-logs-extends-support-ecs/>.
//! * `reject-reason` is version 8 (as in Elastic Beats' `aws_vpcflow`
//!   processor, which follows the AWS table).
//! * `encryption-status` values: VPC Encryption Controls,
//!   <https://docs.aws.amazon.com/vpc/latest/userguide/vpc-encryption-controls.html>.
//! * Version 11 fields (`interface-type`, `next-hop-*`, EC2 tag fields): AWS
//!   "What's new" of June 2026
//!   (<https://aws.amazon.com/about-aws/whats-new/2026/06/amazon-flow-logs-metadata/>),
//!   the EC2 API `TagFieldSpecification` (resource types `instance`,
//!   `network-interface`, `auto-scaling-group`, at most two tag keys each),
//!   <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_TagFieldSpecificationRequest.html>.
//! * Transit gateway fields: AWS Transit Gateway Guide, "Transit Gateway Flow
//!   Logs records", <https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html>.
//!   Transit gateway records carry version **6**; the fields they share with
//!   VPC records (`version`, `account-id`, `srcaddr`, ..., `log-status`,
//!   `type`, `tcp-flags`, `region`, `flow-direction`, `pkt-src-aws-service`,
//!   `pkt-dst-aws-service`) are the same entries as the VPC ones, so only the
//!   transit-gateway-only fields below have `version == 6`.
//! * Logs Insights names: CloudWatch Logs User Guide, "Supported logs and
//!   discovered fields",
//!   <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_AnalyzeLogData-discoverable-fields.html>,
//!   which lists, for VPC flow logs, only the version 2 fields:
//!   `accountId, endTime, interfaceId, logStatus, startTime, version, action,
//!   bytes, dstAddr, dstPort, packets, protocol, srcAddr, srcPort`. Note that
//!   `start`/`end` are discovered as **`startTime`/`endTime`**. The Insights
//!   names of every other field are *inferred*: the record name in camelCase
//!   (`pkt-srcaddr` -> `pktSrcAddr`, following `srcAddr`;
//!   `instance-tag-2` -> `instanceTag2`).
//!
//! Inferred rather than read from an AWS page: the version numbers of
//! `resource-id` (9) and `encryption-status` (10) (both are in the version 10
//! set), the kind of `encryption-status` (numeric codes 0 to 3, taken as
//! [`FieldKind::Int`] like `traffic-path`), the `asg-tag`/`asg-tag-2` names,
//! the version (11) of the tag fields, the Parquet types of the version 6 to
//! 11 fields, and every Insights name outside the version 2 set.
//!
//! A value of `-` in a record means "not applicable / could not be computed"
//! for any field, whatever its kind.

/// How a field's text is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A decimal integer (`-` when absent).
    Int,
    /// Anything else: addresses, IDs, ARNs, enumerations.
    Text,
}

/// Every field flowsift knows, VPC (v2..v11) and transit gateway.
///
/// The declaration order is the order of [`FIELDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    // Version 2 (the default format, in AWS order).
    Version,
    AccountId,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    // Version 3.
    VpcId,
    SubnetId,
    InstanceId,
    TcpFlags,
    Type,
    PktSrcAddr,
    PktDstAddr,
    // Version 4.
    Region,
    AzId,
    SublocationType,
    SublocationId,
    // Version 5.
    PktSrcAwsService,
    PktDstAwsService,
    FlowDirection,
    TrafficPath,
    // Version 7 (Amazon ECS).
    EcsClusterArn,
    EcsClusterName,
    EcsContainerInstanceArn,
    EcsContainerInstanceId,
    EcsContainerId,
    EcsSecondContainerId,
    EcsServiceName,
    EcsTaskDefinitionArn,
    EcsTaskArn,
    EcsTaskId,
    // Version 8.
    RejectReason,
    // Version 9.
    ResourceId,
    // Version 10.
    EncryptionStatus,
    // Version 11.
    InterfaceType,
    NextHopInterfaceId,
    NextHopSubnetId,
    NextHopAzId,
    NextHopVpcId,
    NextHopInterfaceType,
    InstanceTag,
    InstanceTag2,
    InterfaceTag,
    InterfaceTag2,
    AsgTag,
    AsgTag2,
    // Transit gateway only (record version 6).
    ResourceType,
    TgwId,
    TgwAttachmentId,
    TgwSrcVpcAccountId,
    TgwDstVpcAccountId,
    TgwSrcVpcId,
    TgwDstVpcId,
    TgwSrcSubnetId,
    TgwDstSubnetId,
    TgwSrcEni,
    TgwDstEni,
    TgwSrcAzId,
    TgwDstAzId,
    TgwPairAttachmentId,
    PacketsLostNoRoute,
    PacketsLostBlackhole,
    PacketsLostMtuExceeded,
    PacketsLostTtlExpired,
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub field: Field,
    /// The name in a LogFormat and in S3 header lines: "account-id".
    pub name: &'static str,
    /// The name CloudWatch Logs Insights discovers: "accountId".
    pub insights: &'static str,
    /// The JSON/Parquet column name: "account_id" (the record name with '-' replaced by '_').
    pub json: &'static str,
    pub kind: FieldKind,
    /// The flow-log version that introduced the field (transit gateway fields: the TGW record version, 6).
    pub version: u8,
    /// One line from the AWS description.
    pub description: &'static str,
}

const fn spec(
    field: Field,
    name: &'static str,
    insights: &'static str,
    json: &'static str,
    kind: FieldKind,
    version: u8,
    description: &'static str,
) -> FieldSpec {
    FieldSpec {
        field,
        name,
        insights,
        json,
        kind,
        version,
        description,
    }
}

use Field as F;
use FieldKind::{Int, Text};

/// The catalog, one entry per [`Field`], in declaration order
/// (so `FIELDS[field as usize].field == field`).
pub static FIELDS: &[FieldSpec] = &[
    // --- Version 2 -------------------------------------------------------
    spec(
        F::Version,
        "version",
        "version",
        "version",
        Int,
        2,
        "The flow log version: 2 for the default format, else the highest version among the custom format's fields.",
    ),
    spec(
        F::AccountId,
        "account-id",
        "accountId",
        "account_id",
        Text,
        2,
        "AWS account ID of the owner of the source network interface; `unknown` for some AWS-service-created interfaces.",
    ),
    spec(
        F::InterfaceId,
        "interface-id",
        "interfaceId",
        "interface_id",
        Text,
        2,
        "ID of the network interface for which the traffic is recorded.",
    ),
    spec(
        F::SrcAddr,
        "srcaddr",
        "srcAddr",
        "srcaddr",
        Text,
        2,
        "Source address of incoming traffic, or the interface's own (private IPv4 or IPv6) address for outgoing traffic; see pkt-srcaddr.",
    ),
    spec(
        F::DstAddr,
        "dstaddr",
        "dstAddr",
        "dstaddr",
        Text,
        2,
        "Destination address of outgoing traffic, or the interface's own (private IPv4 or IPv6) address for incoming traffic; see pkt-dstaddr.",
    ),
    spec(
        F::SrcPort,
        "srcport",
        "srcPort",
        "srcport",
        Int,
        2,
        "Source port of the traffic.",
    ),
    spec(
        F::DstPort,
        "dstport",
        "dstPort",
        "dstport",
        Int,
        2,
        "Destination port of the traffic.",
    ),
    spec(
        F::Protocol,
        "protocol",
        "protocol",
        "protocol",
        Int,
        2,
        "IANA protocol number of the traffic (6 TCP, 17 UDP, 1 ICMP, ...).",
    ),
    spec(
        F::Packets,
        "packets",
        "packets",
        "packets",
        Int,
        2,
        "Number of packets transferred during the flow.",
    ),
    spec(
        F::Bytes,
        "bytes",
        "bytes",
        "bytes",
        Int,
        2,
        "Number of bytes transferred during the flow.",
    ),
    spec(
        F::Start,
        "start",
        "startTime",
        "start",
        Int,
        2,
        "Unix seconds when the first packet of the flow was received in the aggregation interval (up to 60 s after the wire).",
    ),
    spec(
        F::End,
        "end",
        "endTime",
        "end",
        Int,
        2,
        "Unix seconds when the last packet of the flow was received in the aggregation interval (up to 60 s after the wire).",
    ),
    spec(
        F::Action,
        "action",
        "action",
        "action",
        Text,
        2,
        "ACCEPT or REJECT (not allowed by security groups or network ACLs, or arrived after the connection closed).",
    ),
    spec(
        F::LogStatus,
        "log-status",
        "logStatus",
        "log_status",
        Text,
        2,
        "OK; NODATA (no traffic in the interval); SKIPDATA (records skipped: capacity constraint or internal error).",
    ),
    // --- Version 3 -------------------------------------------------------
    spec(
        F::VpcId,
        "vpc-id",
        "vpcId",
        "vpc_id",
        Text,
        3,
        "ID of the VPC that contains the network interface.",
    ),
    spec(
        F::SubnetId,
        "subnet-id",
        "subnetId",
        "subnet_id",
        Text,
        3,
        "ID of the subnet that contains the network interface.",
    ),
    spec(
        F::InstanceId,
        "instance-id",
        "instanceId",
        "instance_id",
        Text,
        3,
        "ID of the instance associated with the interface, if you own it; `-` for requester-managed interfaces (e.g. NAT gateway).",
    ),
    spec(
        F::TcpFlags,
        "tcp-flags",
        "tcpFlags",
        "tcp_flags",
        Int,
        3,
        "Bitmask of TCP flags OR-ed over the interval: FIN 1, SYN 2, RST 4, SYN-ACK 18; 0 when none is recorded.",
    ),
    spec(
        F::Type,
        "type",
        "type",
        "type",
        Text,
        3,
        "Type of traffic: IPv4, IPv6 or EFA.",
    ),
    spec(
        F::PktSrcAddr,
        "pkt-srcaddr",
        "pktSrcAddr",
        "pkt_srcaddr",
        Text,
        3,
        "Packet-level (original) source IP address, e.g. behind a NAT gateway interface or of an EKS pod.",
    ),
    spec(
        F::PktDstAddr,
        "pkt-dstaddr",
        "pktDstAddr",
        "pkt_dstaddr",
        Text,
        3,
        "Packet-level (original) destination IP address, e.g. behind a NAT gateway interface or of an EKS pod.",
    ),
    // --- Version 4 -------------------------------------------------------
    spec(
        F::Region,
        "region",
        "region",
        "region",
        Text,
        4,
        "Region that contains the network interface.",
    ),
    spec(
        F::AzId,
        "az-id",
        "azId",
        "az_id",
        Text,
        4,
        "ID of the Availability Zone that contains the interface; `-` if the traffic is from a sublocation.",
    ),
    spec(
        F::SublocationType,
        "sublocation-type",
        "sublocationType",
        "sublocation_type",
        Text,
        4,
        "Type of sublocation: wavelength, outpost or localzone; `-` if not from a sublocation.",
    ),
    spec(
        F::SublocationId,
        "sublocation-id",
        "sublocationId",
        "sublocation_id",
        Text,
        4,
        "ID of the sublocation that contains the interface; `-` if not from a sublocation.",
    ),
    // --- Version 5 -------------------------------------------------------
    spec(
        F::PktSrcAwsService,
        "pkt-src-aws-service",
        "pktSrcAwsService",
        "pkt_src_aws_service",
        Text,
        5,
        "AWS IP-range subset of pkt-srcaddr if it belongs to an AWS service (AMAZON, EC2, S3, ROUTE53, ...).",
    ),
    spec(
        F::PktDstAwsService,
        "pkt-dst-aws-service",
        "pktDstAwsService",
        "pkt_dst_aws_service",
        Text,
        5,
        "AWS IP-range subset of pkt-dstaddr if it belongs to an AWS service (AMAZON, EC2, S3, ROUTE53, ...).",
    ),
    spec(
        F::FlowDirection,
        "flow-direction",
        "flowDirection",
        "flow_direction",
        Text,
        5,
        "Direction of the flow relative to the capturing interface: ingress or egress.",
    ),
    spec(
        F::TrafficPath,
        "traffic-path",
        "trafficPath",
        "traffic_path",
        Int,
        5,
        "Egress path: 1 same VPC, 2 IGW or gateway endpoint, 3 VGW, 4/5 intra-/inter-region peering, 6 local gateway, 7 gateway endpoint, 8 IGW (Nitro).",
    ),
    // --- Version 7 (Amazon ECS) -----------------------------------------
    spec(
        F::EcsClusterArn,
        "ecs-cluster-arn",
        "ecsClusterArn",
        "ecs_cluster_arn",
        Text,
        7,
        "ARN of the ECS cluster, if the traffic is from a running ECS task.",
    ),
    spec(
        F::EcsClusterName,
        "ecs-cluster-name",
        "ecsClusterName",
        "ecs_cluster_name",
        Text,
        7,
        "Name of the ECS cluster, if the traffic is from a running ECS task.",
    ),
    spec(
        F::EcsContainerInstanceArn,
        "ecs-container-instance-arn",
        "ecsContainerInstanceArn",
        "ecs_container_instance_arn",
        Text,
        7,
        "ARN of the ECS container instance, if the task runs on EC2.",
    ),
    spec(
        F::EcsContainerInstanceId,
        "ecs-container-instance-id",
        "ecsContainerInstanceId",
        "ecs_container_instance_id",
        Text,
        7,
        "ID of the ECS container instance, if the task runs on EC2.",
    ),
    spec(
        F::EcsContainerId,
        "ecs-container-id",
        "ecsContainerId",
        "ecs_container_id",
        Text,
        7,
        "Docker runtime ID of the (first) container of the ECS task.",
    ),
    spec(
        F::EcsSecondContainerId,
        "ecs-second-container-id",
        "ecsSecondContainerId",
        "ecs_second_container_id",
        Text,
        7,
        "Docker runtime ID of the second container of the ECS task, if any.",
    ),
    spec(
        F::EcsServiceName,
        "ecs-service-name",
        "ecsServiceName",
        "ecs_service_name",
        Text,
        7,
        "Name of the ECS service the task belongs to, if any.",
    ),
    spec(
        F::EcsTaskDefinitionArn,
        "ecs-task-definition-arn",
        "ecsTaskDefinitionArn",
        "ecs_task_definition_arn",
        Text,
        7,
        "ARN of the ECS task definition.",
    ),
    spec(
        F::EcsTaskArn,
        "ecs-task-arn",
        "ecsTaskArn",
        "ecs_task_arn",
        Text,
        7,
        "ARN of the ECS task.",
    ),
    spec(
        F::EcsTaskId,
        "ecs-task-id",
        "ecsTaskId",
        "ecs_task_id",
        Text,
        7,
        "ID of the ECS task.",
    ),
    // --- Version 8 to 10 ------------------------------------------------
    spec(
        F::RejectReason,
        "reject-reason",
        "rejectReason",
        "reject_reason",
        Text,
        8,
        "Why the traffic was rejected, e.g. BPA (VPC Block Public Access); `-` otherwise.",
    ),
    spec(
        F::ResourceId,
        "resource-id",
        "resourceId",
        "resource_id",
        Text,
        9,
        "ID of the resource the traffic is recorded for when it is not an ordinary interface (e.g. a regional NAT gateway).",
    ),
    spec(
        F::EncryptionStatus,
        "encryption-status",
        "encryptionStatus",
        "encryption_status",
        Int,
        10,
        "Encryption in transit: 0 none, 1 Nitro, 2 application (TLS), 3 both; `-` unknown or Encryption Controls off.",
    ),
    // --- Version 11 -----------------------------------------------------
    spec(
        F::InterfaceType,
        "interface-type",
        "interfaceType",
        "interface_type",
        Text,
        11,
        "Type of the network interface that recorded the traffic.",
    ),
    spec(
        F::NextHopInterfaceId,
        "next-hop-interface-id",
        "nextHopInterfaceId",
        "next_hop_interface_id",
        Text,
        11,
        "ID of the network interface of the next hop.",
    ),
    spec(
        F::NextHopSubnetId,
        "next-hop-subnet-id",
        "nextHopSubnetId",
        "next_hop_subnet_id",
        Text,
        11,
        "ID of the subnet of the next hop.",
    ),
    spec(
        F::NextHopAzId,
        "next-hop-az-id",
        "nextHopAzId",
        "next_hop_az_id",
        Text,
        11,
        "ID of the Availability Zone of the next hop.",
    ),
    spec(
        F::NextHopVpcId,
        "next-hop-vpc-id",
        "nextHopVpcId",
        "next_hop_vpc_id",
        Text,
        11,
        "ID of the VPC of the next hop.",
    ),
    spec(
        F::NextHopInterfaceType,
        "next-hop-interface-type",
        "nextHopInterfaceType",
        "next_hop_interface_type",
        Text,
        11,
        "Type of the next hop's interface (e.g. regional_nat_gateway).",
    ),
    spec(
        F::InstanceTag,
        "instance-tag",
        "instanceTag",
        "instance_tag",
        Text,
        11,
        "Value of the first `instance` tag key named in the flow log's tag field specification.",
    ),
    spec(
        F::InstanceTag2,
        "instance-tag-2",
        "instanceTag2",
        "instance_tag_2",
        Text,
        11,
        "Value of the second `instance` tag key named in the flow log's tag field specification.",
    ),
    spec(
        F::InterfaceTag,
        "interface-tag",
        "interfaceTag",
        "interface_tag",
        Text,
        11,
        "Value of the first `network-interface` tag key named in the flow log's tag field specification.",
    ),
    spec(
        F::InterfaceTag2,
        "interface-tag-2",
        "interfaceTag2",
        "interface_tag_2",
        Text,
        11,
        "Value of the second `network-interface` tag key named in the flow log's tag field specification.",
    ),
    spec(
        F::AsgTag,
        "asg-tag",
        "asgTag",
        "asg_tag",
        Text,
        11,
        "Value of the first `auto-scaling-group` tag key named in the flow log's tag field specification.",
    ),
    spec(
        F::AsgTag2,
        "asg-tag-2",
        "asgTag2",
        "asg_tag_2",
        Text,
        11,
        "Value of the second `auto-scaling-group` tag key named in the flow log's tag field specification.",
    ),
    // --- Transit gateway (record version 6) ------------------------------
    spec(
        F::ResourceType,
        "resource-type",
        "resourceType",
        "resource_type",
        Text,
        6,
        "Type of resource the flow log is attached to: TransitGateway or TransitGatewayAttachment.",
    ),
    spec(
        F::TgwId,
        "tgw-id",
        "tgwId",
        "tgw_id",
        Text,
        6,
        "ID of the transit gateway for which traffic is recorded.",
    ),
    spec(
        F::TgwAttachmentId,
        "tgw-attachment-id",
        "tgwAttachmentId",
        "tgw_attachment_id",
        Text,
        6,
        "ID of the transit gateway attachment for which traffic is recorded.",
    ),
    spec(
        F::TgwSrcVpcAccountId,
        "tgw-src-vpc-account-id",
        "tgwSrcVpcAccountId",
        "tgw_src_vpc_account_id",
        Text,
        6,
        "AWS account ID of the source VPC.",
    ),
    spec(
        F::TgwDstVpcAccountId,
        "tgw-dst-vpc-account-id",
        "tgwDstVpcAccountId",
        "tgw_dst_vpc_account_id",
        Text,
        6,
        "AWS account ID of the destination VPC.",
    ),
    spec(
        F::TgwSrcVpcId,
        "tgw-src-vpc-id",
        "tgwSrcVpcId",
        "tgw_src_vpc_id",
        Text,
        6,
        "ID of the source VPC of the transit gateway traffic.",
    ),
    spec(
        F::TgwDstVpcId,
        "tgw-dst-vpc-id",
        "tgwDstVpcId",
        "tgw_dst_vpc_id",
        Text,
        6,
        "ID of the destination VPC of the transit gateway traffic.",
    ),
    spec(
        F::TgwSrcSubnetId,
        "tgw-src-subnet-id",
        "tgwSrcSubnetId",
        "tgw_src_subnet_id",
        Text,
        6,
        "ID of the subnet of the source transit gateway attachment.",
    ),
    spec(
        F::TgwDstSubnetId,
        "tgw-dst-subnet-id",
        "tgwDstSubnetId",
        "tgw_dst_subnet_id",
        Text,
        6,
        "ID of the subnet of the destination transit gateway attachment.",
    ),
    spec(
        F::TgwSrcEni,
        "tgw-src-eni",
        "tgwSrcEni",
        "tgw_src_eni",
        Text,
        6,
        "ID of the source transit gateway attachment's network interface.",
    ),
    spec(
        F::TgwDstEni,
        "tgw-dst-eni",
        "tgwDstEni",
        "tgw_dst_eni",
        Text,
        6,
        "ID of the destination transit gateway attachment's network interface.",
    ),
    spec(
        F::TgwSrcAzId,
        "tgw-src-az-id",
        "tgwSrcAzId",
        "tgw_src_az_id",
        Text,
        6,
        "ID of the Availability Zone of the source transit gateway attachment.",
    ),
    spec(
        F::TgwDstAzId,
        "tgw-dst-az-id",
        "tgwDstAzId",
        "tgw_dst_az_id",
        Text,
        6,
        "ID of the Availability Zone of the destination transit gateway attachment.",
    ),
    spec(
        F::TgwPairAttachmentId,
        "tgw-pair-attachment-id",
        "tgwPairAttachmentId",
        "tgw_pair_attachment_id",
        Text,
        6,
        "ID of the attachment at the other end of the flow (egress or ingress, depending on flow direction).",
    ),
    spec(
        F::PacketsLostNoRoute,
        "packets-lost-no-route",
        "packetsLostNoRoute",
        "packets_lost_no_route",
        Int,
        6,
        "Packets dropped because no route matched.",
    ),
    spec(
        F::PacketsLostBlackhole,
        "packets-lost-blackhole",
        "packetsLostBlackhole",
        "packets_lost_blackhole",
        Int,
        6,
        "Packets dropped by a blackhole route.",
    ),
    spec(
        F::PacketsLostMtuExceeded,
        "packets-lost-mtu-exceeded",
        "packetsLostMtuExceeded",
        "packets_lost_mtu_exceeded",
        Int,
        6,
        "Packets dropped because their size exceeded the MTU.",
    ),
    spec(
        F::PacketsLostTtlExpired,
        "packets-lost-ttl-expired",
        "packetsLostTtlExpired",
        "packets_lost_ttl_expired",
        Int,
        6,
        "Packets dropped because their time-to-live expired.",
    ),
];

impl Field {
    /// This field's catalog entry.
    pub fn spec(self) -> &'static FieldSpec {
        // FIELDS is in declaration order; checked by `fields_are_in_declaration_order`.
        &FIELDS[self as usize]
    }
}

/// Looks up a record name ("dstport") ; None for unknown names.
pub fn by_name(name: &str) -> Option<&'static FieldSpec> {
    FIELDS.iter().find(|s| s.name == name)
}

/// Looks up a Logs Insights name ("dstPort"), also accepting the record name, the json name, and the aliases "startTime"/"endTime" for start/end.
///
/// Logs Insights itself discovers `start`/`end` as `startTime`/`endTime`, so
/// those are the `insights` names of [`Field::Start`] and [`Field::End`];
/// `start`/`end` are accepted as record names.
pub fn by_insights_name(name: &str) -> Option<&'static FieldSpec> {
    FIELDS
        .iter()
        .find(|s| s.insights == name)
        .or_else(|| by_name(name))
        .or_else(|| FIELDS.iter().find(|s| s.json == name))
        .or(match name {
            "startTime" => Some(Field::Start.spec()),
            "endTime" => Some(Field::End.spec()),
            _ => None,
        })
}

/// The default (version 2) format, in order.
pub const DEFAULT_FORMAT: &[Field] = &[
    Field::Version,
    Field::AccountId,
    Field::InterfaceId,
    Field::SrcAddr,
    Field::DstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::LogStatus,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn fields_are_in_declaration_order() {
        for (i, s) in FIELDS.iter().enumerate() {
            assert_eq!(s.field as usize, i, "{} is out of place", s.name);
            assert_eq!(s.field.spec().name, s.name);
        }
        // The last variant is the last entry, so every variant has one.
        assert_eq!(Field::PacketsLostTtlExpired as usize, FIELDS.len() - 1);
        assert_eq!(FIELDS.len(), 72);
    }

    #[test]
    fn no_duplicate_names() {
        for (what, get) in [
            (
                "record",
                (|s: &FieldSpec| s.name) as fn(&FieldSpec) -> &'static str,
            ),
            ("insights", |s: &FieldSpec| s.insights),
            ("json", |s: &FieldSpec| s.json),
        ] {
            let mut seen = HashSet::new();
            for s in FIELDS {
                assert!(seen.insert(get(s)), "duplicate {what} name {}", get(s));
            }
        }
    }

    #[test]
    fn names_are_well_formed() {
        for s in FIELDS {
            assert!(!s.name.is_empty() && !s.description.is_empty());
            assert!(
                s.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                s.name
            );
            assert!(
                s.insights.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{}",
                s.insights
            );
            assert!(!s.description.contains('\n'), "{}", s.name);
        }
    }

    #[test]
    fn json_is_record_name_with_underscores() {
        for s in FIELDS {
            assert_eq!(s.json, s.name.replace('-', "_"), "{}", s.name);
        }
    }

    /// Insights names: the documented version 2 ones, else the record name in camelCase.
    #[test]
    fn insights_names_follow_the_documented_pattern() {
        fn camel(name: &str) -> String {
            let mut out = String::new();
            for (i, part) in name.split('-').enumerate() {
                let part = match part {
                    "srcaddr" => "srcAddr",
                    "dstaddr" => "dstAddr",
                    "srcport" => "srcPort",
                    "dstport" => "dstPort",
                    p => p,
                };
                let mut chars = part.chars();
                if i > 0 {
                    out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
                }
                out.extend(chars);
            }
            out
        }
        for s in FIELDS {
            let expected = match s.name {
                "start" => "startTime".to_string(),
                "end" => "endTime".to_string(),
                n => camel(n),
            };
            assert_eq!(s.insights, expected, "{}", s.name);
        }
        // The version 2 set as listed by the CloudWatch Logs documentation.
        let documented: HashSet<&str> = [
            "accountId",
            "endTime",
            "interfaceId",
            "logStatus",
            "startTime",
            "version",
            "action",
            "bytes",
            "dstAddr",
            "dstPort",
            "packets",
            "protocol",
            "srcAddr",
            "srcPort",
        ]
        .into();
        let v2: HashSet<&str> = DEFAULT_FORMAT.iter().map(|f| f.spec().insights).collect();
        assert_eq!(v2, documented);
    }

    #[test]
    fn lookups_round_trip() {
        for s in FIELDS {
            assert_eq!(by_name(s.name).map(|x| x.field), Some(s.field));
            assert_eq!(by_insights_name(s.insights).map(|x| x.field), Some(s.field));
            assert_eq!(by_insights_name(s.name).map(|x| x.field), Some(s.field));
            assert_eq!(by_insights_name(s.json).map(|x| x.field), Some(s.field));
        }
        assert_eq!(by_name("dstport").unwrap().field, Field::DstPort);
        assert_eq!(by_insights_name("dstPort").unwrap().field, Field::DstPort);
        assert_eq!(
            by_insights_name("pkt_srcaddr").unwrap().field,
            Field::PktSrcAddr
        );
    }

    #[test]
    fn unknown_names() {
        for n in [
            "",
            "dstPort",
            "DSTPORT",
            "${dstport}",
            "dst-port",
            "account_id",
            "bogus",
        ] {
            assert!(by_name(n).is_none(), "{n}");
        }
        for n in ["", "DstPort", "dst-port", "start_time", "bogus"] {
            assert!(by_insights_name(n).is_none(), "{n}");
        }
    }

    #[test]
    fn start_end_aliases() {
        assert_eq!(by_insights_name("startTime").unwrap().field, Field::Start);
        assert_eq!(by_insights_name("endTime").unwrap().field, Field::End);
        assert_eq!(by_insights_name("start").unwrap().field, Field::Start);
        assert_eq!(by_insights_name("end").unwrap().field, Field::End);
        assert!(by_name("startTime").is_none());
    }

    #[test]
    fn default_format_is_the_v2_fields_in_aws_order() {
        let names: Vec<&str> = DEFAULT_FORMAT.iter().map(|f| f.spec().name).collect();
        assert_eq!(
            names.join(" "),
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
             packets bytes start end action log-status"
        );
        let v2: Vec<Field> = FIELDS
            .iter()
            .filter(|s| s.version == 2)
            .map(|s| s.field)
            .collect();
        assert_eq!(v2, DEFAULT_FORMAT);
    }

    #[test]
    fn versions() {
        for s in FIELDS {
            assert!((2..=11).contains(&s.version), "{}", s.name);
        }
        let count = |v| FIELDS.iter().filter(|s| s.version == v).count();
        assert_eq!(
            [2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(count),
            [14, 7, 4, 4, 18, 10, 1, 1, 1, 12]
        );
        let tgw: Vec<&str> = FIELDS
            .iter()
            .filter(|s| s.version == 6)
            .map(|s| s.name)
            .collect();
        assert!(tgw.iter().all(|n| *n == "resource-type"
            || n.starts_with("tgw-")
            || n.starts_with("packets-lost-")));
    }

    #[test]
    fn kinds() {
        let ints: Vec<&str> = FIELDS
            .iter()
            .filter(|s| s.kind == FieldKind::Int)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            ints,
            [
                "version",
                "srcport",
                "dstport",
                "protocol",
                "packets",
                "bytes",
                "start",
                "end",
                "tcp-flags",
                "traffic-path",
                "encryption-status",
                "packets-lost-no-route",
                "packets-lost-blackhole",
                "packets-lost-mtu-exceeded",
                "packets-lost-ttl-expired",
            ]
        );
        // As a reference parser expects: type "IPv4" and tgw ids like "00000001" stay text.
        assert_eq!(Field::Type.spec().kind, FieldKind::Text);
        assert_eq!(Field::TgwId.spec().kind, FieldKind::Text);
        assert_eq!(Field::AccountId.spec().kind, FieldKind::Text);
    }
}
