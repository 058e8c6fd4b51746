//! Reading network interfaces: `aws ec2 describe-network-interfaces`, and the `configuration`
//! of an AWS Config `AWS::EC2::NetworkInterface` item (the same shape in lower camelCase).

use std::net::IpAddr;

use super::NetworkInterface;
use super::error::{Input, InventoryError, describe_document};
use super::json::{Case, Cx, Node, parse_document};

pub(crate) fn parse(file: &str, text: &str) -> Result<Vec<NetworkInterface>, InventoryError> {
    let cx = Cx {
        file,
        input: Input::DescribeNetworkInterfaces,
    };
    let value = parse_document(cx, text)?;
    let root = Node::root(&value, "");
    let Some(list) = root.get("NetworkInterfaces").filter(|_| value.is_object()) else {
        return Err(InventoryError::WrongInput {
            file: file.to_owned(),
            found: describe_document(&value),
            expected: cx.input,
        });
    };
    list.items(cx)?
        .iter()
        .map(|node| parse_interface(node, Case::Pascal, cx, None))
        .collect()
}

/// One interface. Addresses come primary first, then the secondary private addresses in
/// AWS's order, then the IPv6 addresses; each once.
pub(crate) fn parse_interface(
    node: &Node<'_>,
    case: Case,
    cx: Cx<'_>,
    fallback_id: Option<&str>,
) -> Result<NetworkInterface, InventoryError> {
    node.object(cx)?;
    let k = |pascal: &str| case.key(pascal);
    let interface_id = match (node.opt_str(&k("NetworkInterfaceId"), cx)?, fallback_id) {
        (Some(id), _) | (None, Some(id)) => id.to_owned(),
        (None, None) => node.req_str(&k("NetworkInterfaceId"), cx)?.to_owned(),
    };

    let top_primary = node
        .get(&k("PrivateIpAddress"))
        .map(|n| parse_addr(&n, cx))
        .transpose()?;
    let mut listed = Vec::new();
    let mut listed_primary = None;
    let mut primary_public = None;
    for entry in node.list(&k("PrivateIpAddresses"), cx)? {
        entry.object(cx)?;
        let addr = parse_addr(&entry.require(&k("PrivateIpAddress"), cx)?, cx)?;
        if entry.opt_bool(&k("Primary"), cx)? == Some(true) && listed_primary.is_none() {
            listed_primary = Some(addr);
            primary_public = public_ip(&entry, case, cx)?;
        }
        listed.push(addr);
    }
    let mut private_addresses: Vec<IpAddr> = Vec::new();
    let mut push = |addr: IpAddr| {
        if !private_addresses.contains(&addr) {
            private_addresses.push(addr);
        }
    };
    if let Some(primary) = top_primary.or(listed_primary) {
        push(primary);
    }
    listed.into_iter().for_each(&mut push);
    for entry in node.list(&k("Ipv6Addresses"), cx)? {
        entry.object(cx)?;
        push(parse_addr(&entry.require(&k("Ipv6Address"), cx)?, cx)?);
    }

    let mut group_ids = Vec::new();
    for group in node.list(&k("Groups"), cx)? {
        let id = group.req_str(&k("GroupId"), cx)?.to_owned();
        if !group_ids.contains(&id) {
            group_ids.push(id);
        }
    }

    let instance_id = match node.get(&k("Attachment")) {
        Some(attachment) => {
            attachment.object(cx)?;
            attachment.opt_str(&k("InstanceId"), cx)?.map(str::to_owned)
        }
        None => None,
    };
    let owned = |key: &str| -> Result<Option<String>, InventoryError> {
        Ok(node.opt_str(&k(key), cx)?.map(str::to_owned))
    };
    Ok(NetworkInterface {
        interface_id,
        private_addresses,
        // The interface's association is its primary address's; older output may carry it
        // only on the address entry.
        public_address: public_ip(node, case, cx)?.or(primary_public),
        group_ids,
        vpc_id: owned("VpcId")?,
        subnet_id: owned("SubnetId")?,
        interface_type: owned("InterfaceType")?,
        // AWS prints "" for interfaces nobody described.
        description: owned("Description")?.filter(|d| !d.is_empty()),
        instance_id,
        requester_managed: node.opt_bool(&k("RequesterManaged"), cx)?.unwrap_or(false),
        deleted: false,
    })
}

/// `Association.PublicIp` of an interface or of one of its address entries.
fn public_ip(node: &Node<'_>, case: Case, cx: Cx<'_>) -> Result<Option<IpAddr>, InventoryError> {
    let Some(association) = node.get(&case.key("Association")) else {
        return Ok(None);
    };
    association.object(cx)?;
    association
        .get(&case.key("PublicIp"))
        .map(|n| parse_addr(&n, cx))
        .transpose()
}

fn parse_addr(node: &Node<'_>, cx: Cx<'_>) -> Result<IpAddr, InventoryError> {
    let text = node.str(cx)?;
    text.trim()
        .parse()
        .map_err(|_| node.invalid(cx, format!("expected an IP address, found {text:?}")))
}
