// Pre-js for netvm-pack's test: records what the loader reports.
Module['setStatus'] = function(text) { console.log('status ' + text); };
Module['onPackageProgress'] = function(loaded, total, name) {
  console.log('progress ' + loaded + ' ' + total + ' ' + name);
};
