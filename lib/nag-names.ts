/**
 * A resolved CloudFormation value as cdk-nag names it in a finding (`<Logical.Attr>` for Fn::GetAtt, `<Name>` for Ref,
 * Fn::Join joined, anything else as JSON), so an acknowledgement can name exactly one wildcard resource.
 */
export function nagResourceName(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  if (typeof node === 'object' && node !== null) {
    if ('Fn::Join' in node && Array.isArray(node['Fn::Join'])) {
      const [delimiter, items] = node['Fn::Join'];
      if (typeof delimiter === 'string' && Array.isArray(items)) return items.map(nagResourceName).join(delimiter);
    }
    if ('Fn::GetAtt' in node && Array.isArray(node['Fn::GetAtt'])) {
      const [resource, attribute] = node['Fn::GetAtt'];
      return `<${nagResourceName(resource)}.${nagResourceName(attribute)}>`;
    }
    if ('Ref' in node) return `<${nagResourceName(node.Ref)}>`;
  }
  return JSON.stringify(node);
}
