# Browser tests (tests/browser/*.test.mjs): each runs as ctest `browser_<name>` with
# `node FILE --bin <build>/bin` from the repository root. They need Node.js, Debian's
# /usr/bin/chromium and the npm packages of package-lock.json in node_modules/; `make test`
# installs all three before it configures the build. When one is missing here, each
# browser test is still registered, as a test that fails and says what to run, so that a
# machine without a browser never passes the browser tests silently.

file(GLOB BROWSER_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/browser/*.test.mjs)
find_program(NODE_EXECUTABLE node)
set(BROWSER_CHROMIUM /usr/bin/chromium)
set(BROWSER_PLAYWRIGHT ${CMAKE_SOURCE_DIR}/node_modules/playwright-core/package.json)

set(BROWSER_MISSING "")
if(NOT NODE_EXECUTABLE)
  list(APPEND BROWSER_MISSING "node (Debian package nodejs)")
endif()
if(NOT EXISTS ${BROWSER_CHROMIUM})
  list(APPEND BROWSER_MISSING "${BROWSER_CHROMIUM} (Debian package chromium)")
endif()
if(NOT EXISTS ${BROWSER_PLAYWRIGHT})
  list(APPEND BROWSER_MISSING "node_modules/playwright-core (npm ci)")
endif()
if(BROWSER_MISSING)
  string(REPLACE ";" ", " BROWSER_MISSING_TEXT "${BROWSER_MISSING}")
  set(BROWSER_FAIL_SCRIPT ${CMAKE_BINARY_DIR}/browser_tests_missing.cmake)
  file(WRITE ${BROWSER_FAIL_SCRIPT}
    "message(FATAL_ERROR \"browser tests cannot run: missing ${BROWSER_MISSING_TEXT}. "
    "Run `make test` from the repository root: it installs them (scripts/deps.sh, npm ci) "
    "and configures the build again.\")\n")
endif()

foreach(src ${BROWSER_TESTS})
  get_filename_component(file ${src} NAME)
  string(REGEX REPLACE "\\.test\\.mjs$" "" name ${file})
  if(BROWSER_MISSING)
    add_test(NAME browser_${name} COMMAND ${CMAKE_COMMAND} -P ${BROWSER_FAIL_SCRIPT})
  else()
    add_test(NAME browser_${name} COMMAND ${NODE_EXECUTABLE} ${src} --bin ${CMAKE_BINARY_DIR}/bin
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  endif()
  set_tests_properties(browser_${name} PROPERTIES TIMEOUT 300)
endforeach()
